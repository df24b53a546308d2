"""AWS Comprehend as a paid baseline: batching, truncation, cost estimate, opt-in and backoff.

Run through the baseline stage: sentiment baseline comprehend data/prepared metrics/baselines/comprehend.json --yes
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field

from pipeline.errors import PipelineError
from pipeline.labels import LABELS
from pipeline.params import Params

log = logging.getLogger(__name__)

# Limits of BatchDetectSentiment, fixed by AWS rather than tunable: 25 documents a call, each at
# most 5,000 bytes of UTF-8 (a longer one comes back in ErrorList, not scored).
BATCH_SIZE = 25
MAX_DOCUMENT_BYTES = 5000
# Comprehend bills each document in units of 100 characters, with a minimum of 3 units.
CHARACTERS_PER_UNIT = 100
MINIMUM_UNITS = 3
# Error codes worth waiting out; anything else (access denied, bad request) will not get better.
RETRYABLE = frozenset({"ThrottlingException", "TooManyRequestsException", "InternalServerException"})
# Where the score of an undecided class goes: all to one label, or half to each.
UndecidedTarget = Literal["negative", "positive", "split"]


class ComprehendParams(Params):
    enabled: bool = False  # the params opt-in; `--yes` on the command line is the other
    max_documents: int = Field(default=0, ge=0)  # the most test documents sent (label-balanced); 0 refuses to run
    price_per_unit_usd: float = Field(default=0.0001, ge=0)  # only for the estimate logged before any call
    language: str = "en"
    neutral: UndecidedTarget = "split"  # where NEUTRAL's score goes
    mixed: UndecidedTarget = "split"
    region: str | None = None  # None: the standard AWS chain (AWS_REGION, ~/.aws/config)
    endpoint_url: str | None = None  # None: AWS itself; a URL for a local stand-in
    max_attempts: int = Field(default=6, ge=1)  # calls per request before a throttled run gives up
    backoff_s: float = Field(default=1.0, ge=0)  # the first wait; it doubles after each throttled attempt


def truncate_utf8(text: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """Cut to at most `limit` UTF-8 bytes without splitting a character, which Comprehend would reject."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    end = limit
    # Continuation bytes look like 0b10xxxxxx: step back to the first byte of the cut character.
    while end > 0 and encoded[end] & 0xC0 == 0x80:
        end -= 1
    return encoded[:end].decode("utf-8")


def billable_units(text: str) -> int:
    return max(MINIMUM_UNITS, math.ceil(len(text) / CHARACTERS_PER_UNIT))


def capped(labels: Sequence[str], max_documents: int) -> list[int]:
    """Indices of at most `max_documents` documents, taken from each label in turn.

    The test split lists one label's documents after the other's, so a plain prefix would hold a
    single label and ROC AUC would be undefined.
    """
    queues = [[i for i, label in enumerate(labels) if label == wanted] for wanted in LABELS]
    chosen: list[int] = []
    for position in range(max(map(len, queues), default=0)):
        chosen += [queue[position] for queue in queues if position < len(queue)]
    return sorted(chosen[:max_documents])


def require_opt_in(p: ComprehendParams, confirmed: bool, documents: int, cost: float) -> None:
    """Refuse unless the user said yes (--yes or `enabled`) and set a cap: each run is billed."""
    missing = []
    if not (confirmed or p.enabled):
        missing.append("pass --yes or set baseline.comprehend.enabled: true")
    if p.max_documents < 1:
        missing.append("set baseline.comprehend.max_documents to the most documents you will pay for")
    if missing:
        raise PipelineError(
            f"Comprehend would bill about ${cost:.2f} for {documents} documents and runs only on request: "
            + "; ".join(missing)
        )


def probabilities(score: dict[str, float], neutral: str, mixed: str) -> dict[str, float]:
    """Comprehend's four class scores -> ("negative", "positive") probabilities summing to 1.

    NEUTRAL and MIXED mass goes where params say, so a review Comprehend calls NEUTRAL lands on
    one label, or near 0.5 with "split"; argmax then ties go to "negative" as for every model.
    """
    result = {"negative": float(score["Negative"]), "positive": float(score["Positive"])}
    for target, mass in ((neutral, float(score["Neutral"])), (mixed, float(score["Mixed"]))):
        if target == "split":
            result["negative"] += mass / 2
            result["positive"] += mass / 2
        else:
            result[target] += mass
    total = result["negative"] + result["positive"]
    if total <= 0:
        return {label: 1 / len(LABELS) for label in LABELS}
    return {label: result[label] / total for label in LABELS}


def client(p: ComprehendParams) -> Any:
    """A boto3 client from the standard AWS chain (env, ~/.aws, role); params only pick region and endpoint."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client(
            "comprehend",
            region_name=p.region,
            endpoint_url=p.endpoint_url,
            # Retries are ours (_call), so each wait is logged and the test can count them.
            config=Config(retries={"total_max_attempts": 1}),
        )
    except BotoCoreError as error:
        raise PipelineError(
            f"cannot make a Comprehend client: {error} (set AWS_REGION or baseline.comprehend.region)"
        ) from None


def _call(call: Callable[[], dict], what: str, p: ComprehendParams, sleep: Callable[[float], None]) -> dict:
    """Exponential backoff on throttling: a batch of 25 is one request, so a steady run soon meets the rate limit."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    for attempt in range(1, p.max_attempts + 1):
        try:
            return call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            message = str(error.response.get("Error", {}).get("Message", "")).splitlines()[:1]
            if code in RETRYABLE and attempt < p.max_attempts:
                wait = p.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "Comprehend %s on %s (attempt %d of %d); retrying in %.2f s",
                    code,
                    what,
                    attempt,
                    p.max_attempts,
                    wait,
                )
                sleep(wait)
                continue
            raise PipelineError(f"Comprehend {what}: {code}: {' '.join(message)}") from None
        except NoCredentialsError:
            raise PipelineError(
                "no AWS credentials: configure them the standard way (AWS_PROFILE, ~/.aws/credentials, a role)"
            ) from None
        except BotoCoreError as error:
            raise PipelineError(f"Comprehend {what}: {error}") from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def detect(
    comprehend: Any, texts: Sequence[str], p: ComprehendParams, sleep: Callable[[float], None] = time.sleep
) -> list[dict[str, float]]:
    """SentimentScore of each text, in order. Texts must already fit MAX_DOCUMENT_BYTES.

    Documents a batch lists in ErrorList are sent again one at a time through DetectSentiment,
    whose error names the document; a run never reports scores on a silently smaller split.
    """
    results: list[dict[str, float] | None] = [None] * len(texts)
    retried = 0
    for start in range(0, len(texts), BATCH_SIZE):
        batch = list(texts[start : start + BATCH_SIZE])
        what = f"documents {start + 1}-{start + len(batch)}"
        response = _call(
            lambda batch=batch: comprehend.batch_detect_sentiment(TextList=batch, LanguageCode=p.language),
            what,
            p,
            sleep,
        )
        for item in response.get("ResultList", []):
            results[start + item["Index"]] = item["SentimentScore"]
        for item in response.get("ErrorList", []):
            index = start + item["Index"]
            log.warning(
                "Comprehend could not score document %d in its batch (%s); trying it alone",
                index + 1,
                item.get("ErrorCode"),
            )
            single = _call(
                lambda index=index: comprehend.detect_sentiment(Text=texts[index], LanguageCode=p.language),
                f"document {index + 1}",
                p,
                sleep,
            )
            results[index] = single["SentimentScore"]
            retried += 1
        log.info("Comprehend scored %d of %d documents", min(start + BATCH_SIZE, len(texts)), len(texts))
    if retried:
        log.warning("%d documents needed a second, single-document call", retried)
    missing = [i + 1 for i, result in enumerate(results) if result is None]
    if missing:
        raise PipelineError(f"Comprehend returned no score for {len(missing)} documents (first: {missing[0]})")
    return results  # type: ignore[return-value]


def score(
    texts: list[str], actual: list[str], p: ComprehendParams, confirmed: bool
) -> tuple[list[str], list[dict[str, float]]]:
    """Labels and probabilities of the documents sent; the cost is logged before any call is made."""
    chosen = capped(actual, p.max_documents) if p.max_documents > 0 else list(range(len(texts)))
    if len(chosen) < len(texts):
        log.info("sending %d of %d test documents (baseline.comprehend.max_documents)", len(chosen), len(texts))
    sent = [truncate_utf8(texts[i]) for i in chosen]
    truncated = sum(text != texts[i] for text, i in zip(sent, chosen, strict=True))
    if truncated:
        log.warning("%d of %d documents cut to Comprehend's %d-byte limit", truncated, len(sent), MAX_DOCUMENT_BYTES)
    units = sum(billable_units(text) for text in sent)
    cost = units * p.price_per_unit_usd
    log.info(
        "Comprehend bills %d units for %d documents (a unit is %d characters, at least %d a document): "
        "about $%.4f at %s USD a unit",
        units,
        len(sent),
        CHARACTERS_PER_UNIT,
        MINIMUM_UNITS,
        cost,
        p.price_per_unit_usd,
    )
    require_opt_in(p, confirmed, len(sent), cost)
    results = detect(client(p), sent, p)
    return [actual[i] for i in chosen], [probabilities(s, p.neutral, p.mixed) for s in results]
