"""Distribution strategies of the training command (`--strategy`): TensorFlow's `tf.distribute` strategies
(mirrored on several GPUs, multi-worker from `TF_CONFIG`, TPU), or JAX's `keras.distribution.DataParallel` on one
process or several (`initialize_processes`)."""

import collections
import dataclasses
import os
import platform

import keras

STRATEGIES = ("auto", "default", "mirrored", "multi_worker_mirrored", "tpu", "data_parallel")
# Keras' own variables for `keras.distribution.initialize`, read where the options are not given.
PROCESS_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                     "KERAS_DISTRIBUTION_PROCESS_ID")


def initialize_processes(coordinator=None, num_processes=None, process_id=None):
    """Joins this process to a multi-process JAX run, with `keras.distribution.initialize`, when any of the
    arguments (`--coordinator` `host:port` of process 0, `--num-processes`, `--process-id`) or `PROCESS_VARIABLES`
    is set; returns whether the run has several processes."""
    given = (coordinator, num_processes, process_id)
    if all(v is None for v in given) and not any(map(os.environ.get, PROCESS_VARIABLES)):
        return False
    if keras.backend.backend() != "jax":
        raise ValueError("--coordinator, --num-processes and --process-id (or KERAS_DISTRIBUTION_*) are "
                         "keras.distribution's multi-process setup for the JAX backend; with TensorFlow set "
                         "TF_CONFIG for multi_worker_mirrored")
    keras.distribution.initialize(coordinator, num_processes, process_id)
    return process_count() > 1


def process_count():
    """How many processes train together (1 except in a multi-process JAX run)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def even_batches(data):
    """`data` with only full batches: in a multi-process run each process takes its part of every batch, and
    all must run the same number of steps, so a last, smaller batch is left out of training and evaluation."""

    def full(ds):
        return None if ds is None else ds.rebatch(data.batch_size, drop_remainder=True)

    return dataclasses.replace(data, train=full(data.train), validation=full(data.validation), test=full(data.test))


def _tpu_strategy():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError) as e:
        raise ValueError(f"--strategy tpu: no TPU found ({e})") from e
    return tf.distribute.TPUStrategy(resolver)


def _multi_worker_mirrored():
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """Reduces what Keras 3's `fit` hands it, a whole nested (images, labels) batch and scalar logs "along
        axis 0", which the stock strategy rejects (keras-team/keras#20585): leaf by leaf, scalars across replicas."""

        def reduce(self, reduce_op, value, axis):
            parent = super()

            def leaf(v):
                local = self.experimental_local_results(v)[0]
                return parent.reduce(reduce_op, v, axis if local.shape.rank else None)

            return tf.nest.map_structure(leaf, value)

    return MultiWorkerMirroredStrategy()


def accelerated():
    """Whether Keras runs on a GPU or TPU (on TensorFlow: one is visible; other backends: assumed)."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_field(cpuinfo, name):
    return next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith(name)), "")


def describe_machine():
    """This machine in a few words, for reports: its processor, CPU count and accelerators."""
    accelerators = [d for d in keras.distribution.list_devices() if not d.lower().startswith("cpu")]
    processor = _cpu_field(_cpuinfo(), "model name") or platform.processor() or platform.machine()
    return f"{processor}, {os.cpu_count()} CPUs, " + (", ".join(accelerators) or "no accelerator")


def describe_machines(rows):
    """Where result rows trained, for reports: "Machine: M", or "Machines: M1 (n runs); M2 (k runs)"
    when a resumed run trained on several. A row's `machine` is `describe_machine()` of the machine
    that trained it; rows without one say "not recorded"; with no rows it names this machine."""
    counts = collections.Counter(r.get("machine") or "not recorded" for r in rows)
    if len(counts) <= 1:
        return f"Machine: {next(iter(counts), None) or describe_machine()}"
    return "Machines: " + "; ".join(f"{m} ({n} run{'s' if n > 1 else ''})" for m, n in counts.most_common())


def mixed_policy():
    """Keras' mixed dtype policy for this device: `mixed_float16` on a GPU or TPU, `mixed_bfloat16` on a CPU."""
    return "mixed_float16" if accelerated() else "mixed_bfloat16"


def fastest_precision(cpuinfo=None):
    """The dtype policy that trains fastest here without costing accuracy: `mixed_float16` on a GPU
    or TPU, `mixed_bfloat16` on a CPU with bfloat16 instructions (AVX512_BF16 or AMX), else
    `float32` (docs/benchmark.md, "The study's networks"). `cpuinfo`: /proc/cpuinfo's text."""
    if accelerated():
        return "mixed_float16"
    flags = set(_cpu_field(_cpuinfo() if cpuinfo is None else cpuinfo, "flags").split())
    return "mixed_bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"


def make_strategy(name):
    """The `tf.distribute` strategy called `name` (a `STRATEGIES` entry), or `None` where Keras' default placement
    is used (single device, or JAX's `keras.distribution.DataParallel`, which this sets globally)."""
    backend = keras.backend.backend()
    if backend == "jax":
        if name not in ("auto", "default", "data_parallel"):
            raise ValueError(f"--strategy {name} needs the TensorFlow backend; with JAX use data_parallel")
        devices = keras.distribution.list_devices()  # every process's, in a multi-process run
        if name == "data_parallel" or (name == "auto" and len(devices) > 1):
            # Each process feeds its part of every global batch (Keras shards the dataset by process).
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return None
    if name == "data_parallel":
        raise ValueError("--strategy data_parallel is keras.distribution for the JAX backend; with TensorFlow "
                         "use mirrored or multi_worker_mirrored")
    if backend != "tensorflow":
        raise ValueError(f"--strategy {name} needs the TensorFlow or JAX backend; the backend is {backend}")
    import tensorflow as tf

    if name == "auto":  # TF_CONFIG names a cluster; several GPUs want mirroring
        name = ("multi_worker_mirrored" if os.environ.get("TF_CONFIG")
                else "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default")
    return {
        "default": lambda: None,
        "mirrored": tf.distribute.MirroredStrategy,
        "multi_worker_mirrored": _multi_worker_mirrored,
        "tpu": _tpu_strategy,
    }[name]()


def worker_name(strategy):
    """`None` on the chief (or alone), else a name for this worker (`train.Role`)."""
    if process_count() > 1:  # JAX: process 0 is the chief
        import jax

        return f"process{jax.process_index()}" if jax.process_index() else None
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None
    chief = resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs)
    return None if chief else f"{resolver.task_type}{resolver.task_id}"
