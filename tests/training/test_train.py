"""The training command: outputs, errors, resuming a killed run, multi-worker training."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from keras_resnet.cli import main as cli
from keras_resnet.cli import run_folder
from keras_resnet.training import checkpoints, distribute, train
from keras_resnet.training.config import Config

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
# A CIFAR-style network small enough for a test: one basic block per stage, width 4.
TINY = ["--model", "ResNet20", "--set", "blocks=(1,1,1)", "--set", "width=4", "--set", "stem_width=4"]
TINY_CHANGES = {"blocks": (1, 1, 1), "width": 4, "stem_width": 4}


def main(args):
    """`keras-resnet train ARGS` in this process; its exit status."""
    try:
        return cli.main(["train", *args])
    except SystemExit as e:  # argparse's own usage errors
        return e.code


def command(*args):
    return [sys.executable, "-m", "keras_resnet", "train", *TINY, "--verbose", "2", *args]


def backed_up_epochs(backup_dir):
    return checkpoints.restore_point(backup_dir)[0]


def test_a_diverging_run_stops_with_one_line(tmp_path, monkeypatch, capsys):
    """A learning rate of 1e30 makes the loss NaN: TerminateOnNaN stops training and the
    command says so in one line (status 1), keeping what it wrote."""
    import dataclasses

    from keras_resnet.training import recipes

    he2015 = recipes.get("he2015")
    monkeypatch.setitem(recipes.RECIPES, "he2015",
                        dataclasses.replace(he2015, schedule=dataclasses.replace(he2015.schedule, learning_rate=1e30)))
    out = tmp_path / "run"
    args = [*TINY, "--epochs", "3", "--steps-per-epoch", "3", "--batch-size", "16", "--seed", "0",
            "--output-dir", str(out), "--verbose", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("keras-resnet train: error: training stopped with 1 of 3 epochs logged: the loss became NaN")
    assert str(out) in lines[0] and (out / "run.json").exists()


def test_a_run_writes_everything(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "16", "--seed", "0",
            "--output-dir", str(out), "--verbose", "0", "--mixed-precision", "--strategy", "mirrored"]
    try:
        assert main(args) == 0
        assert keras.config.dtype_policy().name == "mixed_bfloat16"  # on a CPU
    finally:
        keras.config.set_dtype_policy("float32")
    assert sorted(os.listdir(out)) == ["best.keras", "curves.png", "evaluation.json", "last.keras", "log.csv",
                                       "run.json", "tensorboard"]
    rows = train.read_log(out)
    assert [r["epoch"] for r in rows] == [0, 1]
    # 6 steps of he2015 at batch 16, its rate 0.1 scaled by 16/128: 0.0125 for steps 0-2, then /10 at step 3
    # and at step 5 (the log holds the rate that follows each epoch).
    assert [r["learning_rate"] for r in rows] == pytest.approx([0.00125, 0.000125])
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(rows[0])
    result = json.loads((out / "evaluation.json").read_text())
    assert 0 <= result["test_accuracy"] <= 1 and 0 <= result["best"]["test_accuracy"] <= 1
    last = keras.saving.load_model(out / "last.keras")
    assert last.input_shape == (None, 32, 32, 1) and last.output_shape == (None, 10)
    # Mixed precision: bfloat16 compute, float32 softmax.
    assert last.get_layer("conv1_conv").compute_dtype == "bfloat16" and last.output.dtype == "float32"
    assert json.loads((out / "run.json").read_text())["changes"] == {"blocks": [1, 1, 1], "width": 4, "stem_width": 4}
    # A finished run is never trained over.
    assert main(args + ["--resume"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--model", "ResNet21"], "Unknown model 'ResNet21'. Did you mean"),
    (["--dataset", "mnist"], "Unknown dataset 'mnist'"),
    (["--recipe", "adam"], "Unknown recipe 'adam'"),
    (["--set", "unit=z"], "`unit` must be one of"),
    (["--epochs", "0"], "`--epochs` must be a positive integer; received --epochs=0"),
    (["--subset", "0"], "`--subset` must be a positive integer; received --subset=0"),
    (["--dataset", "fashion-mnist"], "Unknown dataset 'fashion-mnist'. Did you mean 'fashion_mnist'?"),
])
def test_clear_errors(args, message, tmp_path, capsys):
    assert main([*args, "--output-dir", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unknown_spec_field_is_a_usage_error(capsys):
    assert main(["--set", "depth=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-resnet train: error: argument --set: expected FIELD=VALUE with FIELD one of")
    assert len(err.strip().splitlines()) == 1


def test_never_writes_over_another_run(tmp_path, capsys):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    assert main(["--output-dir", str(other)]) == 2
    assert "holds no keras_resnet run" in capsys.readouterr().err
    assert os.listdir(other) == ["thesis.txt"]

    previous = tmp_path / "previous"
    previous.mkdir()
    config = Config.checked(model="ResNet56", epochs=3, batch_size=128, output_dir=str(previous))
    (previous / "run.json").write_text(json.dumps(config.identity()))
    assert main(["--output-dir", str(previous), "--epochs", "3"]) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(["--output-dir", str(previous), "--epochs", "3", "--resume"]) == 2
    assert "holds a different run (model: 'ResNet56' there, 'ResNet20' now)" in capsys.readouterr().err
    assert os.listdir(previous) == ["run.json"]


@pytest.mark.slow
def test_resume_after_kill(tmp_path):
    """Kill a real run mid-epoch; the resumed run neither loses nor repeats an epoch."""
    out = tmp_path / "run"
    args = ["--epochs", "3", "--steps-per-epoch", "60", "--batch-size", "8", "--seed", "1", "--output-dir", str(out)]
    process = subprocess.Popen(command(*args), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not backed_up_epochs(out / "backup") and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # into the next epoch
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    finished = backed_up_epochs(out / "backup")
    assert 1 <= finished < 3, "the run must be killed after its first epoch and before its last"
    assert not (out / "evaluation.json").exists()

    resumed = subprocess.run(command(*args, "--resume"), env=ENV, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Epoch {finished + 1}/3" in resumed.stdout and f"Epoch {finished}/3" not in resumed.stdout
    assert [int(row["epoch"]) for row in train.read_log(out)] == [0, 1, 2]
    assert (out / "evaluation.json").exists() and not (out / "backup").exists()


def test_strategy_errors():
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'"):
        Config.checked(strategy="horovod")
    with pytest.raises(ValueError, match="data_parallel is keras.distribution for the JAX backend"):
        distribute.make_strategy("data_parallel")
    with pytest.raises(ValueError, match="--strategy tpu: no TPU found"):
        distribute.make_strategy("tpu")


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


WORKER = textwrap.dedent("""
    import sys, numpy as np
    from keras_resnet.training import train
    from keras_resnet.training.config import Config
    config = Config.checked(changes={"blocks": (1, 1, 1), "width": 4, "stem_width": 4}, epochs=2, batch_size=16,
                            steps_per_epoch=3, strategy="multi_worker_mirrored", seed=int(sys.argv[2]),
                            output_dir=sys.argv[1], verbose=0)
    prepared = train.prepare(config)
    weights = lambda: [v.numpy() for v in prepared.model.trainable_weights]
    before = weights()
    train.run(config, prepared)
    np.savez(sys.argv[1] + ".npz", *before, *weights())
""")


@pytest.mark.slow
def test_two_multi_worker_mirrored_workers_train_one_model(tmp_path):
    """Two workers on 127.0.0.1, each with its own seed (data order, augmentation,
    initialisation): the strategy keeps their trainable weights identical. (BatchNorm's
    moving statistics are each worker's own, as with any non-synchronized BN.)"""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            workers.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"w{index}"), str(index)],
                                            env={**ENV, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True))
        outputs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:  # never leave a worker behind, whatever happened
            w.kill()
            w.wait()
    assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    chief, other = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    n = len(chief.files) // 2
    after = [(chief[f"arr_{n + i}"], other[f"arr_{n + i}"]) for i in range(n)]
    for a, b in after:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(chief[f"arr_{i}"], a) for i, (a, _) in enumerate(after)), "training changed nothing"
    assert (tmp_path / "w0" / "evaluation.json").exists() and not (tmp_path / "w1" / "evaluation.json").exists()


def test_default_output_folder_keeps_every_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = os.path.join("runs", "ResNet20-digits-he2015")
    assert run_folder.numbered_folder(base, resume=False) == base
    for path in (base, base + "-2"):
        os.makedirs(path)
        open(os.path.join(path, "run.json"), "w").close()
    assert run_folder.numbered_folder(base, resume=False) == base + "-3"
    assert run_folder.numbered_folder(base, resume=True) == base + "-2"


# The ImageNet recipes through the command ---------------------------------------

MODERN = ("bag_of_tricks", "rsb_a3", "torchvision_v2")


def recipe_args(recipe, out, *more):
    return [*TINY, "--recipe", recipe, "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16", "--seed", "0",
            "--output-dir", str(out), "--verbose", "0", *more]


@pytest.mark.parametrize("recipe", MODERN)
def test_what_the_command_prepares_for_a_modern_recipe(recipe, tmp_path):
    config = Config.checked(changes=TINY_CHANGES, recipe=recipe, epochs=1, steps_per_epoch=2, batch_size=16, seed=0,
                            output_dir=str(tmp_path / "run"), verbose=0)
    prepared = train.prepare(config)
    model, data = prepared.model, prepared.data
    # Every pipeline gives one-hot labels; the recipe's loss and Keras' "accuracy" take them.
    for ds in (data.train, data.validation, data.test):
        assert tuple(ds.element_spec[1].shape) == (None, 10) and ds.element_spec[1].dtype == "float32"
    images, labels = next(iter(data.train))
    labels = keras.ops.convert_to_numpy(labels)
    np.testing.assert_allclose(labels.sum(axis=1), 1, rtol=1e-5)
    assert np.any((labels > 1e-6) & (labels < 1 - 1e-6)), "MixUp/CutMix mix the labels"
    _, test_labels = next(iter(data.test))
    assert set(np.unique(keras.ops.convert_to_numpy(test_labels))) == {0.0, 1.0}
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(images)))
    # The classifier the loss expects; the recipe's Spec changes reach the model.
    assert model.get_layer("predictions").get_config()["activation"] == ("sigmoid" if recipe == "rsb_a3" else "softmax")
    gamma = keras.ops.convert_to_numpy(model.get_layer("conv2_block1_2_bn").gamma)
    assert (not np.any(gamma)) == (recipe == "bag_of_tricks")  # zero_init_last
    assert model.metrics_names == ["loss", "compile_metrics"]
    assert np.isfinite(model.evaluate(data.validation.take(1), verbose=0, return_dict=True)["accuracy"])


@pytest.mark.parametrize("recipe", ["bag_of_tricks", pytest.param("rsb_a3", marks=pytest.mark.slow), "torchvision_v2"])
def test_modern_recipes_run_through_the_command(recipe, tmp_path):
    out = tmp_path / "run"
    # rsb_a3 with mixed precision: its sigmoid in float32 after a bfloat16 network.
    more = ["--mixed-precision"] if recipe == "rsb_a3" else []
    try:
        assert main(recipe_args(recipe, out, *more)) == 0
    finally:
        keras.config.set_dtype_policy("float32")
    rows = train.read_log(out)
    assert len(rows) == 1 and {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(rows[0])
    assert all(np.isfinite(value) for value in rows[0].values())
    result = json.loads((out / "evaluation.json").read_text())
    assert np.isfinite(result["test_loss"]) and 0 <= result["test_accuracy"] <= 1
    last = keras.saving.load_model(out / "last.keras")
    head = last.get_layer("predictions")
    assert head.get_config()["activation"] == ("sigmoid" if recipe == "rsb_a3" else "softmax")
    assert last.output.dtype == "float32" and head.dtype_policy.name == "float32"
    # Mixed precision: the network computes in bfloat16, its classifier (the model's output) in float32.
    assert last.get_layer("conv1_conv").compute_dtype == ("bfloat16" if more else "float32")
