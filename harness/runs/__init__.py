"""What every job shares: command-line conventions and checks, the configs' shared fields
(:class:`JobConfig`) and ``main()`` (:func:`run_job`), inputs, the resumable run store,
progress, the environment stamp and seed sharding. Plot conventions live in
:mod:`harness.runs.plots` (imported on demand: Matplotlib is slow to import).

Exported: what the job packages (:mod:`harness.converge`, :mod:`harness.train`,
:mod:`harness.bench`, :mod:`harness.calibrate`) use, and the errors their run functions
raise: :class:`UsageError` (bad input, exit status 2) with its subclasses
:class:`ConfigMismatchError`, :class:`FolderKindError` and :class:`FolderBusyError`
(another run's folder, or one locked by a live run), and :class:`RunError` (a fault while
running, such as a distributed coordinator that does not answer). The modules behind them
are private.
"""

from harness.runs._atomic import atomic_write_bytes
from harness.runs._atomic import atomic_write_json
from harness.runs._atomic import atomic_write_text
from harness.runs._atomic import csv_text
from harness.runs._atomic import strict_json
from harness.runs._cli import ArgumentParser
from harness.runs._cli import RunError
from harness.runs._cli import UsageError
from harness.runs._cli import is_out_of_memory
from harness.runs._cli import parse_widths
from harness.runs._cli import run_cli
from harness.runs._compilation import CACHE_ENV
from harness.runs._compilation import CompileLog
from harness.runs._compilation import compilation_cache_in_use
from harness.runs._compilation import configure_compilation_cache
from harness.runs._config import JobConfig
from harness.runs._environment import device_banner
from harness.runs._environment import device_description
from harness.runs._environment import environment_stamp
from harness.runs._figures import PLOTS_ENV
from harness.runs._figures import figures_wanted
from harness.runs._folder import ConfigMismatchError
from harness.runs._folder import FolderBusyError
from harness.runs._folder import FolderKindError
from harness.runs._folder import check_folder_kind
from harness.runs._folder import check_out_folder
from harness.runs._folder import claim_folder
from harness.runs._in_memory import InMemoryStore
from harness.runs._inputs import check_float32_range
from harness.runs._inputs import check_inputs_array
from harness.runs._inputs import file_sha256
from harness.runs._inputs import gaussian_inputs
from harness.runs._inputs import inputs_sha256
from harness.runs._inputs import load_inputs_file
from harness.runs._inputs import run_inputs
from harness.runs._memory import check_run_memory
from harness.runs._memory import format_bytes
from harness.runs._options import MAX_BLOCKS
from harness.runs._options import PRECISIONS
from harness.runs._options import add_architecture_options
from harness.runs._options import add_inputs_options
from harness.runs._options import add_numerics_options
from harness.runs._options import add_option
from harness.runs._options import add_run_options
from harness.runs._options import add_seeds_option
from harness.runs._options import announce
from harness.runs._options import bounded_int
from harness.runs._options import check_choice
from harness.runs._options import check_shape
from harness.runs._options import config_of
from harness.runs._options import jax_precision_of
from harness.runs._options import load_inputs_option
from harness.runs._options import run_job
from harness.runs._options import with_inputs_option
from harness.runs._progress import Progress
from harness.runs._sharding import gather_to_host
from harness.runs._sharding import initialize_distributed
from harness.runs._sharding import is_writer
from harness.runs._sharding import replicate
from harness.runs._sharding import seed_mesh
from harness.runs._sharding import shard_keys
from harness.runs._store import RunStore
from harness.runs._store import unit_key

__all__ = [
    "CACHE_ENV",
    "MAX_BLOCKS",
    "PLOTS_ENV",
    "PRECISIONS",
    "ArgumentParser",
    "CompileLog",
    "ConfigMismatchError",
    "FolderBusyError",
    "FolderKindError",
    "InMemoryStore",
    "JobConfig",
    "Progress",
    "RunError",
    "RunStore",
    "UsageError",
    "add_architecture_options",
    "add_inputs_options",
    "add_numerics_options",
    "add_option",
    "add_run_options",
    "add_seeds_option",
    "announce",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "bounded_int",
    "check_choice",
    "check_float32_range",
    "check_folder_kind",
    "check_inputs_array",
    "check_out_folder",
    "check_run_memory",
    "check_shape",
    "claim_folder",
    "compilation_cache_in_use",
    "config_of",
    "configure_compilation_cache",
    "csv_text",
    "device_banner",
    "device_description",
    "environment_stamp",
    "figures_wanted",
    "file_sha256",
    "format_bytes",
    "gather_to_host",
    "gaussian_inputs",
    "initialize_distributed",
    "inputs_sha256",
    "is_out_of_memory",
    "is_writer",
    "jax_precision_of",
    "load_inputs_file",
    "load_inputs_option",
    "parse_widths",
    "replicate",
    "run_cli",
    "run_inputs",
    "run_job",
    "seed_mesh",
    "shard_keys",
    "strict_json",
    "unit_key",
    "with_inputs_option",
]
