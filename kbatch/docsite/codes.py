"""Troubleshooting by Kling's error code: one section per code of the error taxonomy
(:data:`kbatch.provider.wire.CODES`), what it means, what kbatch does about it, what to do.

>>> "## 1303" in codes_page()
True
"""

from __future__ import annotations

from collections.abc import Mapping

from kbatch.errors import Outcome
from kbatch.provider.wire import CODES, RESIGN_CODES, Code

#: What kbatch does after a code, by what the code means for the job and the run.
DOES: Mapping[Outcome, str] = {
    Outcome.RETRY: (
        "Retried with backoff (never sooner than a `Retry-After` the provider sent), without "
        "using up one of the job's attempts; after 8 in a row the run stops, saying to run again "
        "later. The job stays where it was."
    ),
    Outcome.FAIL_JOB: (
        "The job fails with reason `rejected`, the code and Kling's message, and is not retried "
        "by itself: fix the job (editing it gives it a new fingerprint), or give it another try "
        "with `kbatch run MANIFEST --retry-failed`."
    ),
    Outcome.FATAL: (
        "kbatch stops submitting; tasks already at the provider are still followed to the end and "
        "downloaded. The jobs not sent stay `pending` for the next run."
    ),
}
#: What to do, per code.
ADVICE: Mapping[int, str] = {
    Code.AUTH_FAILED: "Check the key: `KLING_API_KEY` (both APIs), or `KLING_ACCESS_KEY` and "
    "`KLING_SECRET_KEY` (a JWT, the `/v1` routes only), or `provider.api_key_env`.",
    Code.AUTH_EMPTY: "No credential was found in the environment: set the variable the message "
    "names.",
    Code.TOKEN_INVALID: "The access and secret keys do not belong together, or the new API was "
    "sent a JWT: it takes `KLING_API_KEY` only.",
    Code.ACCOUNT_ABNORMAL: "Look at the account in Kling's console.",
    Code.ACCOUNT_IN_ARREARS: "Top the account up in Kling's console, then run again.",
    Code.PACK_EXHAUSTED: "kbatch stops submitting jobs of that pack (video or image) only; "
    "`kbatch account MANIFEST` shows what is left in each pack.",
    Code.NO_PERMISSION: "The account may not use this API or model: choose another `model_name`, "
    "or ask Kling to open it.",
    Code.INVALID_PARAMETERS: "Kling's message names the field. `kbatch validate` checks what "
    "Kling documents before anything is sent; if Kling has added a capability the map lacks, "
    "`provider: {name: kling, check_capabilities: false}` lets Kling judge.",
    Code.RESOURCE_NOT_FOUND: "Usually a model the route does not serve: check `model_name` and "
    "`provider.api` (`kbatch plan` shows where each job goes).",
    Code.PLATFORM_POLICY: "Change the prompt or the images.",
    Code.CONTENT_SAFETY: "Change the prompt or the images; the simulator answers 1301 to a "
    "prompt holding `sim:unsafe`.",
    Code.TOO_FAST: "Lower `limits.submit_per_minute`.",
    Code.PARALLEL_LIMIT: "kbatch lowers its target to what Kling accepted and raises it by one "
    "after each clean finish; set `limits.max_in_flight` to the account's slots to avoid it.",
    Code.IP_POLICY: "Add this machine's address to the account's IP allow-list.",
    Code.MAINTENANCE: "Run again later: a rerun finishes what is left and sends nothing twice.",
}


def codes_page() -> str:
    """One section per code, in the order of the codes."""
    sections = []
    for code, (outcome, meaning) in CODES.items():
        lines = [f"## {int(code)}: {meaning}", "", f"`{Code(code).name}`", ""]
        lines.append(f"**What kbatch does.** {DOES.get(outcome, '')}")
        if code in RESIGN_CODES:
            lines.append(
                "With a JWT, kbatch first signs a fresh one and sends the request once more; "
                "if it persists, check this machine's clock."
            )
        if code in ADVICE:
            lines += ["", f"**What to do.** {ADVICE[code]}"]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"
