"""The ``tideflow`` command: up, api, worker, console, temporal, migrate, validate, run, app,
rotate-secrets."""

from __future__ import annotations

import time

# Before the imports below: ``tideflow up`` counts "healthy in X s" from here, so the CLI's
# own start-up is in the figure. (Not in the package's __init__: workflow sandboxes re-import
# it, and they refuse clock reads.)
STARTED_AT = time.monotonic()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

from tideflow.cli_app import add_app_args, app_command  # noqa: E402
from tideflow.cli_run import (  # noqa: E402
    add_run_args,
    add_validate_args,
    run_command,
    validate_command,
)
from tideflow.cli_worker import add_worker_args, worker_command  # noqa: E402
from tideflow.platform.redaction import install_redaction  # noqa: E402
from tideflow.platform.settings import Settings  # noqa: E402
from tideflow.preflight import (  # noqa: E402
    SettingError,
    check_data_dir,
    check_database,
    check_ports_free,
    check_temporal_reachable,
    load_settings,
)

EXIT_BAD_INPUT = 2


def _up(settings: Settings, _args: argparse.Namespace) -> int:
    from tideflow.supervisor import run_up

    check_data_dir(settings)
    ports = [("api_port", settings.api_port), ("console_port", settings.console_port)]
    if settings.embedded_temporal:
        ports += [("temporal_port", settings.temporal_port)]
        ports += [("temporal_ui_port", settings.temporal_ui_port)]
    check_ports_free(settings.host, ports)
    check_database(settings)
    check_temporal_reachable(settings)
    return run_up(settings, started=STARTED_AT)


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    check_ports_free(settings.host, [("api_port", settings.api_port)])
    uvicorn.run(
        "tideflow.platform.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.api_port,
        log_level="info",
    )
    return 0


def _console(settings: Settings, _args: argparse.Namespace) -> int:
    from tideflow.console_server import console_argv

    check_ports_free(settings.host, [("console_port", settings.console_port)])
    argv = console_argv(settings)
    os.execv(argv[0], argv)


def _temporal(settings: Settings, _args: argparse.Namespace) -> int:
    from tideflow.temporal_server import dev_server_argv

    check_data_dir(settings)
    check_ports_free(
        settings.host,
        [
            ("temporal_port", settings.temporal_port),
            ("temporal_ui_port", settings.temporal_ui_port),
        ],
    )
    argv = dev_server_argv(settings)
    os.execv(argv[0], argv)


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from tideflow.platform.db.migrate import upgrade_database

    check_data_dir(settings)
    check_database(settings)
    upgrade_database(settings.db_url)
    print("database is at the newest schema")
    return 0


def _rotate_secrets(settings: Settings, _args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from tideflow.platform.secret_rotation import RotationError, rotate_secrets

    check_database(settings)
    try:
        report = rotate_secrets(settings.db_url, settings.secret_key, settings.secret_key_previous)
    except RotationError as exc:
        print(f"tideflow: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        reason = str(exc).strip().splitlines()[0]
        print(f"tideflow: cannot rotate ({reason}); is the database migrated?", file=sys.stderr)
        return 1
    for table, rotated in report.rotated.items():
        print(f"{table}: {rotated} re-encrypted, {report.current[table]} already current")
    return 0


Handler = Callable[[Settings, argparse.Namespace], int]
ArgAdder = Callable[[argparse.ArgumentParser], None]


def _no_args(_parser: argparse.ArgumentParser) -> None:
    pass


COMMANDS: dict[str, tuple[Handler, str, ArgAdder]] = {
    "up": (_up, "start the whole embedded stack (Temporal, worker, API, console)", _no_args),
    "api": (_api, "run the API server only", _no_args),
    "worker": (
        worker_command,
        "run a Temporal worker only (--pool to pick pools)",
        add_worker_args,
    ),
    "console": (_console, "run the Streamlit console only", _no_args),
    "temporal": (_temporal, "run the embedded Temporal dev server only", _no_args),
    "migrate": (_migrate, "apply database migrations", _no_args),
    "validate": (
        validate_command,
        "check a Dify DSL file; one problem per line",
        add_validate_args,
    ),
    "run": (run_command, "run a Dify DSL file once and print the result as JSON", add_run_args),
    "app": (app_command, "import or export apps through a running API", add_app_args),
    "rotate-secrets": (
        _rotate_secrets,
        "re-encrypt stored secrets with TIDEFLOW_SECRET_KEY (old keys from *_PREVIOUS)",
        _no_args,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="tideflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text, add_args) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tideflow`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # LiteLLM logs every model call at INFO (twice: through its own handler and the root's).
    for chatty in ("httpx", "alembic", "temporalio", "LiteLLM"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    handler = COMMANDS[args.command][0]
    try:
        settings = load_settings()
        # Every process the CLI starts (api, worker, up...) masks secrets in its logs.
        install_redaction(settings=settings)
        code = handler(settings, args)
    except SettingError as exc:
        print(f"tideflow: {exc}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal SDK can crash at interpreter exit (sdk-python#300): leave without teardown.
    os._exit(code)


if __name__ == "__main__":
    main()
