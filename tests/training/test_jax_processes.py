"""The training command on JAX across processes (issue 15): `keras.distribution.initialize`
from Keras' environment variables, `DataParallel` over every process's devices, process 0
writing the run's files; a killed run resumes."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from keras_resnet.training import checkpoints, train

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX (the test extra)")]

# One CPU device per process; Keras' variables name the cluster.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "jax",
       "JAX_PLATFORMS": "cpu"}

# Trains the tiny ResNet-20 as the command does, then saves this process's weights.
WORKER = textwrap.dedent("""
    import sys, numpy as np, keras
    from keras_resnet.training import train
    from keras_resnet.training.config import Config
    output_dir, epochs, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
    config = Config.checked(changes={"blocks": (1, 1, 1), "width": 4, "stem_width": 4}, epochs=epochs, batch_size=16,
                            steps_per_epoch=int(sys.argv[4]), seed=0, output_dir=output_dir, verbose=2, resume=resume)
    prepared = train.prepare(config)
    train.run(config, prepared)
    worker = prepared.role.worker
    index = 0 if worker is None else int(worker[len("process"):])
    np.savez(f"{output_dir}-{index}.npz", *[keras.ops.convert_to_numpy(v) for v in prepared.model.trainable_weights])
""")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(out, epochs, steps, resume=False):
    port = free_port()
    return [subprocess.Popen([sys.executable, "-c", WORKER, str(out), str(epochs), "resume" if resume else "new",
                              str(steps)],
                             env={**ENV, "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
                                  "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(i)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in range(2)]


def finish(processes, timeout=300):
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in processes]
    finally:
        for p in processes:  # never leave a process behind, whatever happened
            p.kill()
            p.wait()
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    return outputs


def assert_same_weights(out):
    first, second = (np.load(f"{out}-{i}.npz") for i in range(2))
    assert len(first.files) == len(second.files) > 10
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_two_processes_train_one_model_and_resume_after_a_kill(tmp_path):
    out = tmp_path / "run"
    # Killed after the first epoch is backed up.
    processes = start(out, epochs=3, steps=20)
    try:
        deadline = time.time() + 240
        while not checkpoints.restore_point(out / "backup")[0] and time.time() < deadline and \
                all(p.poll() is None for p in processes):
            time.sleep(0.05)
        time.sleep(0.3)
        for p in processes:
            p.send_signal(signal.SIGKILL)
    finally:
        for p in processes:
            p.kill()
            p.wait()
    finished = checkpoints.restore_point(out / "backup")[0]
    assert 1 <= finished < 3, "the run must be killed after its first epoch and before its last"

    outputs = finish(start(out, epochs=3, steps=20, resume=True))
    assert f"Epoch {finished + 1}/3" in outputs[0] and f"Epoch {finished}/3" not in outputs[0]
    assert_same_weights(out)
    # Only process 0 wrote the run's files; each process's backup is gone once the run is done.
    assert sorted(os.listdir(out)) == ["best.keras", "curves.png", "evaluation.json", "last.keras", "log.csv",
                                       "run.json", "tensorboard"]
    assert [int(row["epoch"]) for row in train.read_log(out)] == [0, 1, 2]
