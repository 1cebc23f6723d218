"""Command line: train, evaluate, test or predict with a ViViT config.

    python main.py --config=configs/demo.py --workdir=/tmp/vivit_demo
    python main.py --config=configs/k400_fe.py --workdir=DIR --config.batch_size=32
    python main.py --workdir=DIR --mode=test [--checkpoint=best]    # the run's own config
    python main.py --workdir=DIR --mode=predict a.mp4 b.mp4

Multi-host: on TPU pod slices and SLURM jobs `jax.distributed` is initialized from the
environment; elsewhere pass --coordinator_address, --num_processes and --process_id.
"""

from __future__ import annotations

import logging as std_logging
import os
import shlex
import sys

from absl import app, flags, logging

_CONFIG = flags.DEFINE_string(
    "config", None, "Config file (a .py with get_config()); FILE:ARG passes ARG to it. "
    "Override any declared key with --config.KEY=VALUE (applied after the file's config is "
    "completed with the defaults, so also keys the file does not set). Required to train; "
    "eval, test and predict default to the run's own config (its config.json).")
# --config.KEY=VALUE arguments, taken out of argv before absl parses the other flags.
_CONFIG_OVERRIDES: list[str] = []
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints, TensorBoard summaries and config.json.")
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "eval", "test", "predict"],
    "train: train (resuming from --workdir), validating and testing on the way. eval: "
    "single-view validation of a checkpoint. test: multi-view test of a checkpoint. predict: "
    "top-5 classes of the video files given after the flags.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "latest", "eval/test/predict: which checkpoint of --workdir: latest, best or "
    "a step number.")
_VERBOSE = flags.DEFINE_bool(
    "verbose", False, "On an error, log its full traceback before the one-line message.")
_DISTRIBUTED = flags.DEFINE_enum(
    "distributed", "auto", ["auto", "on", "off"],
    "jax.distributed: auto initializes it when coordinator flags are given or the environment "
    "is a multi-worker TPU slice or a SLURM job with several tasks; on always; off never.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "HOST:PORT of process 0, for jax.distributed outside TPU/SLURM.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in the job.")
flags.mark_flags_as_required(["workdir"])  # --config: required to train (see _load_config)


def _multi_worker_environment() -> bool:
    """True on a TPU slice with several workers or a SLURM job with several tasks."""
    tpu_hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    return "," in tpu_hosts or int(os.environ.get("SLURM_NTASKS", "1")) > 1


def _initialize_distributed() -> None:
    import jax

    explicit = _COORDINATOR.value is not None
    if _DISTRIBUTED.value == "off" and explicit:
        raise app.UsageError("--coordinator_address was given with --distributed=off.")
    if _DISTRIBUTED.value == "on" or explicit or (
            _DISTRIBUTED.value == "auto" and _multi_worker_environment()):
        jax.distributed.initialize(
            coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value,
            process_id=_PROCESS_ID.value)
        logging.info("Process %d of %d; %d local devices of %d.", jax.process_index(),
                     jax.process_count(), jax.local_device_count(), jax.device_count())


class _QuietLibraries(std_logging.Filter):
    """Drops INFO records of Orbax and JAX internals (dozens per checkpoint), keeps warnings."""

    _NOISY = (f"{os.sep}orbax{os.sep}", f"{os.sep}jax{os.sep}_src{os.sep}")

    def filter(self, record) -> bool:
        return record.levelno >= std_logging.WARNING or not any(
            part in record.pathname for part in self._NOISY)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing, after setting aside the --config.KEY=VALUE overrides for load_config."""
    from vivit.config import split_override_args

    rest, overrides = split_override_args(argv)
    _CONFIG_OVERRIDES.extend(overrides)
    return app.parse_flags_with_usage(rest)


def _load_config():
    """The completed config with the overrides applied; bad input exits with one line.

    Training needs --config. The other modes read the run's own config.json when --config is
    left out (overrides apply to it); a --config given for them must build a model with the
    run's parameter shapes, else one line names the keys that differ."""
    from vivit.config import ConfigError, apply_overrides, load_config

    try:
        if _CONFIG.value is None:
            if _MODE.value == "train":
                sys.exit("main.py: error: --config is required to train (eval, test and predict "
                         "use the run's own config.json).")
            from vivit.run import RunError, run_config

            try:
                return apply_overrides(run_config(_WORKDIR.value), _CONFIG_OVERRIDES)
            except RunError as error:
                sys.exit(f"main.py: error: {error} Pass --config=FILE for a workdir without one.")
        config = load_config(_CONFIG.value, _CONFIG_OVERRIDES)
    except (ConfigError, OSError) as error:
        sys.exit(f"main.py: error: {error}")
    if _MODE.value != "train":
        _refuse_other_shapes(config)
    return config


def _refuse_other_shapes(config) -> None:
    """Exits with one line when `config` builds parameters of other shapes than the run's."""
    from vivit import workdir
    from vivit.run import run_config, shape_changing_differences

    if not workdir.is_run(_WORKDIR.value):
        return  # Nothing to compare with: the restore says what is missing.
    try:
        differences = shape_changing_differences(run_config(_WORKDIR.value), config)
    except ValueError as error:  # The given config builds no model: say so, as training would.
        sys.exit(f"main.py: error: {error}")
    if differences:
        sys.exit("main.py: error: --config changes the shapes of the run's parameters: "
                 + "; ".join(differences) + ". Leave --config out to use the run's own.")


def _print_predictions(predictions) -> int:
    """Each video's top-k on stdout, or one error line on stderr; returns how many failed."""
    failed = 0
    for prediction in predictions:
        if prediction.error is not None:
            failed += 1
            sys.stdout.flush()
            print(f"main.py: error: {prediction.error}", file=sys.stderr, flush=True)
            continue
        print(prediction.path)
        for line in prediction.lines:  # As the model's task prints them (vivit.tasks).
            print(line)
    sys.stdout.flush()
    return failed


def _command_line(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


def run_summary(workdir: str, export_problem: str | None) -> str:
    """What a finished mode leaves behind and how to go on: the workdir's checkpoints,
    TensorBoard and config, and the commands to test, predict with and export this run (which
    read the run's own config: no --config needed)."""
    from vivit import workdir as workdir_lib

    root = str(workdir_lib.resolve(workdir))
    steps = workdir_lib.finished_steps(root)
    saved = (f"steps {', '.join(map(str, steps[-3:]))}" if len(steps) <= 3
             else f"{len(steps)} steps, newest {steps[-1]}") if steps else "none saved"
    run = ["python", "main.py", f"--workdir={root}"]
    export = (_command_line("python", "-m", "vivit.export", f"--checkpoint={root}", "--to=hf",
                            "--out=EXPORT_DIR") if export_problem is None
              else f"(not for this run: {export_problem})")
    return "\n".join([
        f"Run {root}:",
        f"  checkpoints  {workdir_lib.checkpoint_dir(root)} ({saved})",
        f"  TensorBoard  tensorboard --logdir={workdir_lib.tensorboard_dir(root)}",
        f"  config       {workdir_lib.resolve(root) / workdir_lib.CONFIG_FILE}",
        "Next:",
        f"  test     {_command_line(*run, '--mode=test')}",
        f"  predict  {_command_line(*run, '--mode=predict')} VIDEO_OR_DIR...",
        f"  export   {export}",
    ])


def _export_problem(config) -> str | None:
    """Why this run cannot be exported to Hugging Face (one line), or None."""
    from vivit.formats.errors import CheckpointError
    from vivit.formats.hf_writer import check_model1_config

    try:
        check_model1_config(config)
    except CheckpointError as error:
        return str(error)
    return None


def checkpoint_flag_error(value: str) -> str | None:
    """Why --checkpoint=value is not 'latest', 'best' or a step number; None when it is."""
    if value in ("latest", "best") or (value.isdigit() and value.isascii()):
        return None
    return (f"--checkpoint={value!r} is not accepted; expected latest, best or a step number "
            "(a non-negative integer).")


def main(argv: list[str]) -> None:
    videos = argv[1:]
    checkpoint_error = checkpoint_flag_error(_CHECKPOINT.value)
    if checkpoint_error:
        print(f"main.py: error: {checkpoint_error}", file=sys.stderr)
        sys.exit(2)
    if videos and _MODE.value != "predict":
        raise app.UsageError(f"Unexpected arguments {videos} (only --mode=predict takes files).")
    if logging.get_verbosity() <= logging.INFO:
        logging.get_absl_logger().addFilter(_QuietLibraries())
    config = _load_config()
    _initialize_distributed()

    import jax

    import trainer
    from vivit.train.step import NonFiniteLossError
    from vivit.train.workdir_lock import WorkdirInUseError

    workdir = _WORKDIR.value
    failed = 0
    try:
        if _MODE.value == "train":
            trainer.train_and_evaluate(config, workdir)
        elif _MODE.value == "eval":
            trainer.evaluate_checkpoint(config, workdir, "validation", _CHECKPOINT.value)
        elif _MODE.value == "test":
            trainer.evaluate_checkpoint(config, workdir, "test", _CHECKPOINT.value)
        else:
            predictions = trainer.predict(config, workdir, videos, _CHECKPOINT.value)
            failed = _print_predictions(predictions)
    except (ValueError, OSError, NotImplementedError, NonFiniteLossError,
            WorkdirInUseError) as error:
        # Bad input (config, data, workdir, checkpoint) or a diverged run: one clear line
        # (with --verbose, the traceback first).
        if _VERBOSE.value:
            logging.exception("%s: %s", type(error).__name__, error)
        else:
            logging.error("%s: %s", type(error).__name__, error)
        sys.exit(f"main.py: error: {error}")
    except KeyboardInterrupt:
        # Ctrl-C before the training loop listens for it (or in eval/test/predict): nothing to
        # save; stop with the shell's code for SIGINT and no traceback.
        print("main.py: interrupted.", file=sys.stderr)
        sys.exit(130)
    if _MODE.value == "predict" and failed:
        sys.exit(1)  # Some videos failed (their errors, the last lines, are printed).
    if jax.process_index() == 0:  # Where the run is and what to run next (on stderr, so
        # predictions on stdout stay machine-readable).
        print(run_summary(workdir, _export_problem(config)), file=sys.stderr, flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
