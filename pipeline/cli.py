"""The `sentiment` command: one subcommand per DVC stage. It parses, sets up logging and calls.

Paths come from dvc.yaml on the command line; numbers come from one params.yaml section each; `image` and
`deploy` read deploy.yaml, which is not a DVC params file, so changing a deploy setting reruns no stage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.params import DEFAULT_PATH, load_section, parse, read_params
from pipeline.progress import mask_uri_secrets_in_logs

log = logging.getLogger("pipeline")

DESCRIPTION = (
    "The `sentiment` command: one subcommand per DVC stage, plus rollback, batch scoring, the image and AWS deploys."
)

DEPLOY_SETTINGS = Path("deploy.yaml")
DRIFT_EXIT = 2  # `sentiment drift` found drift: distinct from 1 (bad input), so a scheduler can retrain on it

QUIET_LOGGERS = ("mlflow", "alembic", "urllib3", "git", "matplotlib", "numexpr")


def _fetch(args: argparse.Namespace) -> None:
    from pipeline.stages.fetch import FetchParams, fetch

    fetch(load_section(FetchParams, "fetch", args.params), args.out, tracked=args.sources)


def _data_source(params: Path) -> str:
    """fetch.source, which the records' names default from (pipeline/names.py)."""
    from pipeline.stages.fetch import FetchParams

    return load_section(FetchParams, "fetch", params).source


def _prepare(args: argparse.Namespace) -> None:
    from pipeline.stages.prepare import PrepareParams, prepare

    prepare(load_section(PrepareParams, "prepare", args.params), args.raw, args.out, args.report_out, args.plot_out)


def _train(args: argparse.Namespace) -> None:
    from pipeline.stages.train import TrainParams, train

    train(load_section(TrainParams, "train", args.params), args.name, args.prepared, args.model_out, args.cv_out)


def _evaluate(args: argparse.Namespace) -> None:
    from pipeline.stages.evaluate import evaluate

    evaluate(args.model, args.prepared, args.cases, args.metrics_out, args.behaviour_out, args.plots_out)


def _select(args: argparse.Namespace) -> None:
    from pipeline.stages.select import SelectParams, select
    from pipeline.stages.train import TrainParams
    from pipeline.tracking.runs import flatten, provenance

    train = load_section(TrainParams, "train", args.params)
    # The parent run records the settings shared by all candidates; each candidate's own are on its run.
    everything = read_params(args.params)
    shared = {name: everything.get(name, {}) for name in ("fetch", "prepare", "select")}
    shared["train"] = {key: value for key, value in everything["train"].items() if key != "candidates"}
    select(
        load_section(SelectParams, "select", args.params),
        train.specs(),
        args.candidates,
        args.metrics,
        args.plots,
        args.raw,
        args.prepared,
        args.champion_out,
        args.selected_out,
        args.card_markdown_out,
        args.card_json_out,
        run_params=flatten(shared),
        cv_seed=train.cv_seed,
        source=_data_source(args.params),
        tags=provenance(args.params),
    )


def _rollback(args: argparse.Namespace) -> None:
    from pipeline.names import from_data
    from pipeline.stages.select import SelectParams
    from pipeline.tracking.promotion import rollback

    p = load_section(SelectParams, "select", args.params)
    source = _data_source(args.params)
    rollback(from_data(p.experiment, source), from_data(p.registered_model, source))


def _baseline(args: argparse.Namespace) -> None:
    from pipeline.names import from_data
    from pipeline.stages.baseline import BaselineParams, baseline
    from pipeline.stages.select import SelectParams
    from pipeline.tracking.runs import provenance

    # Baseline runs go in the candidates' experiment, so one MLflow view compares them all.
    experiment = from_data(load_section(SelectParams, "select", args.params).experiment, _data_source(args.params))
    baseline(
        load_section(BaselineParams, "baseline", args.params),
        args.name,
        args.prepared,
        args.metrics_out,
        experiment,
        confirmed=args.yes,
        tags=provenance(args.params),
    )


def _package(args: argparse.Namespace) -> None:
    from pipeline.stages.package import PackageParams, package

    package(
        load_section(PackageParams, "package", args.params),
        args.selected,
        args.serving_out,
        args.bento_out,
        source=_data_source(args.params),
    )


def _summary(args: argparse.Namespace) -> None:
    from pipeline.stages.summary import summary

    summary(args.selected, args.reference, args.out)


def _reference(args: argparse.Namespace) -> None:
    from pipeline.drift import DriftParams
    from pipeline.stages.reference import record_reference

    record_reference(load_section(DriftParams, "drift", args.params), args.champion, args.prepared, args.reference_out)


def _drift(args: argparse.Namespace) -> int:
    from pipeline.drift import DriftParams, drift

    report = drift(load_section(DriftParams, "drift", args.params), args.logs, args.reference, args.out)
    if report["drifted"]:
        figures = ", ".join(f"{name} (PSI {report['features'][name]['psi']:.3f})" for name in report["drifted"])
        log.error(
            "sentiment drift: drift in %s, past drift.psi_alert %.2f; report in %s",
            figures, report["psi_alert"], args.out / "report.json",
        )  # fmt: skip
        return DRIFT_EXIT
    log.info("sentiment drift: no feature past drift.psi_alert %.2f", report["psi_alert"])
    return 0


def _score(args: argparse.Namespace) -> None:
    from pipeline.batch.score import ScoreParams, score

    section = read_params(args.params).get("score", {}) if args.params.is_file() else {}
    p = parse(ScoreParams, section, "score", args.params)
    given = {
        "model": args.model,
        "text_column": args.text_column,
        "keep": args.keep,
        "format": args.format,
        "partition_by": args.partition_by,
        "master": args.master,
        "env_manager": args.env_manager,
    }
    conf = dict(p.spark_conf)
    for setting in args.conf or ():
        key, equals, value = setting.partition("=")
        if not equals or not key:
            raise PipelineError(f"--conf {setting!r}: expected KEY=VALUE")
        conf[key] = value
    p = p.model_copy(update={**{k: v for k, v in given.items() if v is not None}, "spark_conf": conf})
    score(parse(ScoreParams, p.model_dump(), "score", args.params), args.input, args.output, args.summary)


def add_score_command(commands: argparse._SubParsersAction) -> None:
    """`sentiment score INPUT OUTPUT`: params.yaml `score:` gives the defaults, options override them."""
    score = commands.add_parser(
        "score",
        help="score a corpus (CSV, JSONL or Parquet; local or s3://) with the champion on Spark, into Parquet",
        description="Batch scoring on Spark (the `spark` extra): every row of INPUT (a file, a folder or a glob) "
        "scored by the model that serves online, written to OUTPUT as Parquet; rows that cannot be scored go to "
        "OUTPUT/_rejects with the reason. Defaults come from params.yaml `score:`. See docs/scoring.md.",
    )
    score.add_argument("input", help="a file, folder or glob: local path or s3://")
    score.add_argument("output", help="a folder: local path or s3://")
    score.add_argument("--model", help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/..., or a model folder")
    score.add_argument("--text-column", help="the column holding the review (default: text)")
    score.add_argument("--keep", action="append", metavar="COLUMN", help="an id column to copy; repeatable")
    score.add_argument("--format", choices=("auto", "csv", "jsonl", "parquet"), help="default: from file names")
    score.add_argument("--partition-by", choices=("input_file", "scored_date"), help="default: input_file")
    score.add_argument("--master", help="local[*] (default), local[N], spark://HOST:7077, yarn, k8s://...")
    score.add_argument(
        "--env-manager",
        choices=("local", "virtualenv", "uv", "conda"),
        help="local (default): this environment's scorer; others: MLflow builds the model's environment per node",
    )
    score.add_argument("--conf", action="append", metavar="KEY=VALUE", help="a Spark setting; repeatable")
    score.add_argument("--summary", type=Path, metavar="PATH", help="write the counts as JSON (a DVC metric)")
    score.set_defaults(handler=_score)


def _image_build(args: argparse.Namespace) -> None:
    from pipeline.deploy.image import ImageParams, build

    build(load_section(ImageParams, "image", args.deploy_settings), args.bento_json, args.base_image, args.builder)


def _image_push(args: argparse.Namespace) -> None:
    from pipeline.deploy.image import ImageParams, choose_registry, push

    p = load_section(ImageParams, "image", args.deploy_settings)
    registry = choose_registry(
        p,
        args.registry,
        ecr=args.ecr,
        username=args.username,
        password_env=args.password_env,
        tls_verify=not args.insecure,
    )
    push(p, args.bento_json, registry)


def add_image_commands(commands: argparse._SubParsersAction) -> None:
    """`sentiment image build|push`: settings in deploy.yaml `image:`, per-machine choices as options."""
    image = commands.add_parser("image", help="build the packaged bento's OCI image, or push it")
    actions = image.add_subparsers(dest="action", required=True, metavar="ACTION")
    bento_json = {
        "type": Path,
        "default": Path("models/bento.json"),
        "help": "the package stage's output naming the bento (default: %(default)s)",
    }
    build = actions.add_parser(
        "build",
        help="bentoml containerize the bento, tagged with its version and the git commit",
        description="Build with docker (when its daemon answers), else buildah, else podman.",
    )
    build.add_argument("--bento-json", **bento_json)
    build.add_argument(
        "--base-image", help="a Python 3.11 base image with pip or uv (default: the bento's python:3.11-slim)"
    )
    build.add_argument("--builder", choices=("docker", "buildah", "podman"), help="default: the first usable")
    build.set_defaults(handler=_image_build)
    push = actions.add_parser(
        "push",
        help="push the image under its version and commit tags (skopeo, buildah, podman or docker)",
        description="Push to ECR (--ecr: the repository is created when missing) or to any registry (--registry).",
    )
    push.add_argument("--bento-json", **bento_json)
    push.add_argument("--registry", metavar="HOST[:PORT]", help="where to push; with --ecr, instead of ECR's endpoint")
    who = push.add_mutually_exclusive_group()
    who.add_argument("--ecr", action="store_true", help="log in to ECR with the standard AWS credentials chain")
    who.add_argument("--username", help="log in as this user (default: the push tool's own login)")
    push.add_argument(
        "--password-env",
        metavar="NAME",
        default="SENTIMENT_REGISTRY_PASSWORD",
        help="environment variable holding --username's password (default: %(default)s)",
    )
    push.add_argument("--insecure", action="store_true", help="plain HTTP or unverified TLS (a local registry)")
    push.set_defaults(handler=_image_push)


def _deploy_lambda(args: argparse.Namespace) -> None:
    from pipeline.deploy.lambda_function import build_lambda_zip, deploy_lambda
    from pipeline.deploy.settings import DeployParams

    p = load_section(DeployParams, "deploy", args.deploy_settings)
    archive = build_lambda_zip(args.champion, args.bento_json, args.zip)
    deploy_lambda(p, archive, dry_run=args.dry_run)


def _deploy_ecs(args: argparse.Namespace) -> None:
    from pipeline.deploy.ecs import deploy_ecs
    from pipeline.deploy.image import ImageParams, bento_tag
    from pipeline.deploy.settings import DeployParams, record

    p = load_section(DeployParams, "deploy", args.deploy_settings)
    repository = load_section(ImageParams, "image", args.deploy_settings).repository
    tag = args.image or bento_tag(args.bento_json).split(":", 1)[1]
    done = deploy_ecs(p, repository, tag, dry_run=args.dry_run, wait=not args.no_wait)
    if done:
        record(args.output, "ecs", done)


def _deploy_site(args: argparse.Namespace) -> None:
    from pipeline.deploy.settings import DeployParams, api_url_from, record
    from pipeline.deploy.site import deploy_site

    p = load_section(DeployParams, "deploy", args.deploy_settings)
    done = deploy_site(p, args.frontend, args.api_url or api_url_from(args.output), dry_run=args.dry_run)
    if done:
        record(args.output, "site", done)


def _deploy_storage(args: argparse.Namespace) -> None:
    from pipeline.deploy.settings import DeployParams, record
    from pipeline.deploy.site import deploy_storage

    done = deploy_storage(load_section(DeployParams, "deploy", args.deploy_settings), dry_run=args.dry_run)
    if done:
        record(args.output, "storage", done)


def _deploy_destroy(args: argparse.Namespace) -> None:
    from pipeline.deploy.destroy import Doomed, destroy, targets_of
    from pipeline.deploy.settings import DeployParams, forget

    p = load_section(DeployParams, "deploy", args.deploy_settings)
    targets = targets_of(args.what, args.delete_storage)

    def confirm(doomed: list[Doomed]) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise PipelineError("no terminal to confirm on: pass --yes to delete without asking")
        answer = input(f"Delete these {len(doomed)} resources of {p.project} ({p.stage})? Type 'yes': ")
        return answer.strip().lower() == "yes"

    if destroy(p, targets, confirm):
        for target in targets:
            forget(args.output, target)


def add_deploy_commands(commands: argparse._SubParsersAction) -> None:
    """`sentiment deploy ecs|site|lambda`: settings in deploy.yaml `deploy:`, credentials from the AWS chain."""
    deploy = commands.add_parser("deploy", help="deploy the champion to AWS")
    targets = deploy.add_subparsers(dest="target", required=True, metavar="TARGET")
    dry_run_help = "read what exists and log the changes a deploy would make; change nothing"
    output = {
        "type": Path,
        "default": Path("build/deploy.json"),
        "help": "what the deploys made (URLs, ARNs), by target; site reads the ECS URL here (default: %(default)s)",
    }
    ecs = targets.add_parser(
        "ecs",
        help="run the pushed image on ECS Fargate behind a load balancer, with auto scaling (create or update)",
        description="Run `sentiment image push --ecr` first. Logs the service URL and records it in --output.",
    )
    ecs.add_argument("--bento-json", type=Path, default=Path("models/bento.json"), help="default: %(default)s")
    ecs.add_argument(
        "--image",
        metavar="TAG|REFERENCE",
        help="an image tag in the ECR repository image.repository, or a full reference "
        "(default: the bento version in --bento-json, the tag `sentiment image push` pushed)",
    )
    ecs.add_argument("--output", **output)
    ecs.add_argument("--dry-run", action="store_true", help=dry_run_help)
    ecs.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the service is updated, without waiting for the rollout (old target groups and rules "
        "are then removed by the next deploy)",
    )
    ecs.set_defaults(handler=_deploy_ecs)
    site = targets.add_parser(
        "site",
        help="host frontend/ as an S3 static website whose config.js names the API (create or update)",
        description="The site's origin is in the CORS allowlist of the ECS task and the Lambda Function URL: "
        "deploy the site's bucket name before (or redeploy ecs and lambda after) changing it.",
    )
    site.add_argument("--frontend", type=Path, default=Path("frontend"), help="default: %(default)s")
    site.add_argument("--api-url", metavar="URL", help="the API the page calls (default: the ECS URL in --output)")
    site.add_argument("--output", **output)
    site.add_argument("--dry-run", action="store_true", help=dry_run_help)
    site.set_defaults(handler=_deploy_site)
    storage = targets.add_parser(
        "storage",
        help="create the private bucket for `dvc push` and MLflow artifacts (deploy.storage_bucket)",
    )
    storage.add_argument("--output", **output)
    storage.add_argument("--dry-run", action="store_true", help=dry_run_help)
    storage.set_defaults(handler=_deploy_storage)
    function = targets.add_parser(
        "lambda",
        help="zip the handler with the champion and create or update the Lambda function and its URL",
    )
    function.add_argument("--champion", type=Path, default=Path("models/champion"), help="default: %(default)s")
    function.add_argument("--bento-json", type=Path, default=Path("models/bento.json"), help="default: %(default)s")
    function.add_argument("--zip", type=Path, default=Path("build/lambda.zip"), help="default: %(default)s")
    function.add_argument("--dry-run", action="store_true", help="build the zip, " + dry_run_help)
    function.set_defaults(handler=_deploy_lambda)
    teardown = targets.add_parser(
        "destroy",
        help="delete what the deploys made: only resources tagged with deploy.project and deploy.stage",
        description="Lists what it will delete, in dependency order, and asks. A resource under a configured "
        "name without the project's tags is kept. `all` leaves storage (DVC and MLflow data) unless "
        "--delete-storage is given.",
    )
    teardown.add_argument("what", choices=["ecs", "site", "lambda", "storage", "all"], help="what to delete")
    teardown.add_argument("--yes", action="store_true", help="delete without asking")
    teardown.add_argument(
        "--delete-storage",
        action="store_true",
        help="also delete the storage bucket (the DVC remote's and MLflow's data)",
    )
    teardown.add_argument("--output", **output)
    teardown.set_defaults(handler=_deploy_destroy)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sentiment", description=DESCRIPTION)
    top.add_argument("--params", type=Path, default=DEFAULT_PATH, help="stage params (default: %(default)s)")
    top.add_argument(
        "--deploy-settings",
        type=Path,
        default=DEPLOY_SETTINGS,
        metavar="PATH",
        help="`image` and `deploy` settings (default: %(default)s)",
    )
    top.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int | None], help_text: str, *paths: str) -> None:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        for path in paths:
            sub.add_argument(path, type=Path if path != "name" else str)
        sub.set_defaults(handler=handler)

    command(
        "fetch",
        _fetch,
        "load the corpus named by fetch.source into OUT; SOURCES is the folder DVC tracks users' files in",
        "sources", "out",
    )  # fmt: skip
    command(
        "prepare",
        _prepare,
        "check RAW, split it into train/test in OUT, report the data (REPORT_OUT, PLOT_OUT)",
        "raw", "out", "report_out", "plot_out",
    )  # fmt: skip
    command("train", _train, "cross-validate and fit candidate NAME", "name", "prepared", "model_out", "cv_out")
    command(
        "evaluate",
        _evaluate,
        "score MODEL on the test split and on the behavioural CASES",
        "model", "prepared", "cases", "metrics_out", "behaviour_out", "plots_out",
    )  # fmt: skip
    command(
        "select",
        _select,
        "choose the winner by CV score, log all candidates to MLflow, register the winner with its model card, "
        "and promote it to champion if the promotion gate lets it",
        "candidates", "metrics", "plots", "raw", "prepared", "champion_out", "selected_out", "card_markdown_out",
        "card_json_out",
    )  # fmt: skip
    command(
        "rollback",
        _rollback,
        "point the registry's champion alias back at the previous version (select.registered_model), and previous "
        "at the one it replaces",
    )
    command(
        "baseline",
        _baseline,
        "score pre-made model NAME (vader, comprehend) on the test split, beside the candidates",
        "name", "prepared", "metrics_out",
    )  # fmt: skip
    commands.choices["baseline"].add_argument(
        "--yes",
        action="store_true",
        help="agree to pay for AWS Comprehend (also needs baseline.comprehend.max_documents)",
    )
    command(
        "package",
        _package,
        "import the champion into the BentoML model store and build the bento",
        "selected", "serving_out", "bento_out",
    )  # fmt: skip
    command(
        "summary",
        _summary,
        "the champion, its selection score and test accuracy, and REFERENCE's test accuracy, into OUT",
        "selected", "reference", "out",
    )  # fmt: skip
    command(
        "reference",
        _reference,
        "record what the champion's predictions look like on the test split, for `sentiment drift`",
        "champion", "prepared", "reference_out",
    )  # fmt: skip
    command(
        "drift",
        _drift,
        "compare logged predictions (a file or folder of JSON lines) with the reference: PSI per feature; "
        f"exit {DRIFT_EXIT} on drift",
        "logs",
    )  # fmt: skip
    commands.choices["drift"].add_argument(
        "--reference", type=Path, default=Path("models/reference.json"), help="default: %(default)s"
    )
    commands.choices["drift"].add_argument(
        "--out", type=Path, default=Path("drift"), help="report.json and drift.png go here (default: %(default)s)"
    )
    add_score_command(commands)
    add_image_commands(commands)
    add_deploy_commands(commands)
    return top


def configure_logging(verbose: bool) -> None:
    mask_uri_secrets_in_logs()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow configures its own loggers when imported and draws a progress bar per artifact
    # download; both drown the stage's own progress lines. Users can still override these.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        code = args.handler(args)
    except PipelineError as error:
        log.error("sentiment %s: %s", args.command, error)
        return 1
    except KeyboardInterrupt:
        log.error("sentiment %s: interrupted", args.command)
        return 130
    except Exception:
        # A bug keeps its traceback, but through logging, which masks the credentials a URI in it may carry.
        log.exception("sentiment %s: unexpected error (a bug; the traceback follows)", args.command)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
