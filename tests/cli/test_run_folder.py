"""The run-folder protocol, by doing what goes wrong: kills at chosen moments, files cut
short, two commands at once, a full disk. After each, a run either continues exactly from
its last finished epoch (no epoch lost or logged twice) or stops with one line that names
the damaged file and what to do."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from keras_resnet.cli import files, run_folder
from keras_resnet.cli import main as cli
from keras_resnet.cli.figures import figure
from keras_resnet.training import checkpoints
from keras_resnet.tuning import command as tune_command

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
TINY = ["--model", "ResNet20", "--set", "blocks=(1,1,1)", "--set", "width=4", "--set", "stem_width=4"]
EPOCHS = 3
TF_NOISE = ("WARNING: All log messages before absl", "I0000", "W0000", "E0000")


def args(out, *more):
    return [*TINY, "--epochs", str(EPOCHS), "--steps-per-epoch", "40", "--batch-size", "8", "--seed", "1",
            "--verbose", "2", "--output-dir", str(out), *more]


def main(argv):
    """`keras-resnet ARGV` in this process; its exit status."""
    return cli.main(argv)


def backed_up_epochs(backup_dir):
    return checkpoints.restore_point(backup_dir)[0]


def start(out, *more):
    return subprocess.Popen([sys.executable, "-m", "keras_resnet", "train", *args(out, *more)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(process, ready, timeout=180):
    """SIGKILLs `process` as soon as `ready()` holds."""
    try:
        deadline = time.time() + timeout
        while not ready() and process.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before the moment to kill it"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()


def epochs_logged(out):
    return [int(row["epoch"]) for row in files.read_csv(os.path.join(out, "log.csv"))]


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keras-resnet train: error: "), err
    assert "Traceback" not in err
    return lines[0]


def resume_in_process(out, capsys):
    status = main(["train", *args(out, "--resume")])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_finished_exactly(out, status, stdout, err, first):
    """The resumed run trained epochs `first`..EPOCHS once, and the log holds every epoch once."""
    assert status == 0, err[-2000:]
    assert epochs_logged(out) == list(range(EPOCHS))
    assert f"Epoch {first + 1}/{EPOCHS}" in stdout and f"Epoch {first}/{EPOCHS}" not in stdout
    assert os.path.exists(os.path.join(out, "evaluation.json")) and not os.path.exists(os.path.join(out, "backup"))
    assert checkpoints.is_whole_model(os.path.join(out, "best.keras"))
    assert not [f for f in os.listdir(out) if f.startswith((".partial", ".lock")) or ".tmp" in f]


# Killed runs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run killed after backing up 2 of its 3 epochs; each test works on a copy."""
    out = tmp_path_factory.mktemp("killed") / "run"
    process = start(out)
    kill_when(process, lambda: backed_up_epochs(out / "backup") >= 2)
    assert backed_up_epochs(out / "backup") == 2, "killed too late: the third epoch was backed up"
    return out


@pytest.fixture
def copy_of_killed_run(killed_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed_run, out)
    return out


@pytest.mark.slow
def test_killed_during_the_first_epoch_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    log = out / "log.csv"
    process = start(out)
    kill_when(process, lambda: log.exists())  # CSVLogger opened its file; no epoch has ended
    assert backed_up_epochs(out / "backup") == 0 and epochs_logged(out) == []
    status, stdout, err = resume_in_process(out, capsys)
    assert_finished_exactly(out, status, stdout, err, first=0)


@pytest.mark.slow
def test_resume_continues_from_the_last_backed_up_epoch(copy_of_killed_run, capsys):
    status, stdout, err = resume_in_process(copy_of_killed_run, capsys)
    assert_finished_exactly(copy_of_killed_run, status, stdout, err, first=2)
    assert "warning" not in err


@pytest.mark.slow
def test_truncated_latest_backup_falls_back_and_says_so(copy_of_killed_run, capsys):
    backup = copy_of_killed_run / "backup"
    latest = backup / json.loads((backup / checkpoints.METADATA).read_text())["weights"]
    latest.write_bytes(latest.read_bytes()[:1000])
    status, stdout, err = resume_in_process(copy_of_killed_run, capsys)
    assert "warning: the backup of epoch 2 is damaged" in err and str(latest) in err
    assert "resuming from the whole backup of epoch 1, so epoch 2 is trained again" in err
    assert_finished_exactly(copy_of_killed_run, status, stdout, err, first=1)


@pytest.mark.slow
def test_both_backups_truncated_is_one_clear_error(copy_of_killed_run, capsys):
    backup = copy_of_killed_run / "backup"
    for f in backup.glob("epoch-*.weights.h5"):
        f.write_bytes(b"")
    status, _, err = resume_in_process(copy_of_killed_run, capsys)
    line = one_error_line(err)
    assert status == 2 and "No whole backup to resume from" in line and "epoch-2.weights.h5" in line
    assert "aside and --resume again" in line


@pytest.mark.slow
@pytest.mark.parametrize("name, damage, message", [
    ("backup/training_metadata.json", lambda b: b[: len(b) // 2], "is damaged (not JSON"),
    ("run.json", lambda b: b[:10], "is damaged (not JSON"),
    ("log.csv", lambda b: b[: b.rindex(b"\n", 0, len(b) - 1) + 12], "log.csv does not list epochs 0 to 1"),
    ("log.csv", lambda b: b"", "log.csv does not list epochs 0 to 1"),
])
def test_damaged_file_is_one_line_naming_it(copy_of_killed_run, capsys, name, damage, message):
    path = copy_of_killed_run / name
    path.write_bytes(damage(path.read_bytes()))
    status, _, err = resume_in_process(copy_of_killed_run, capsys)
    line = one_error_line(err)
    assert status == 2 and str(path) in line and message in line


@pytest.mark.slow
def test_log_row_cut_after_the_backup_is_dropped(copy_of_killed_run, capsys):
    """Killed mid-write of epoch 3's log row (after epoch 2's backup): the half row goes."""
    log = copy_of_killed_run / "log.csv"
    with open(log, "a") as f:
        f.write("2,0.1")
    status, stdout, err = resume_in_process(copy_of_killed_run, capsys)
    assert_finished_exactly(copy_of_killed_run, status, stdout, err, first=2)


@pytest.mark.slow
def test_truncated_best_model_is_set_aside(copy_of_killed_run, capsys):
    best = copy_of_killed_run / "best.keras"
    best.write_bytes(best.read_bytes()[:500])
    status, stdout, err = resume_in_process(copy_of_killed_run, capsys)
    assert f"warning: {best} is damaged" in err and (copy_of_killed_run / "best.keras.damaged").exists()
    assert_finished_exactly(copy_of_killed_run, status, stdout, err, first=2)
    assert "best" in json.loads((copy_of_killed_run / "evaluation.json").read_text())


@pytest.mark.slow
def test_two_commands_into_one_folder(tmp_path):
    out = tmp_path / "run"
    processes = [start(out) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in processes]
    statuses = sorted(p.returncode for p in processes)
    assert statuses == [0, 2], [r[1][-2000:] for r in results]
    err = next(r[1] for p, r in zip(processes, results) if p.returncode == 2)
    # TensorFlow's C++ start-up lines (absl, oneDNN) go to the process's stderr before Python runs.
    line = one_error_line("\n".join(line for line in err.splitlines() if not line.startswith(TF_NOISE)))
    assert "is in use by process" in line or "already holds a run" in line
    assert epochs_logged(out) == list(range(EPOCHS))


def test_lock_names_the_process_that_holds_it(tmp_path):
    """Another process holds the folder: claim refuses at once (the lock, not a race)."""
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import importlib.util, sys, time
        spec = importlib.util.spec_from_file_location("rf", {run_folder.__file__!r})
        rf = importlib.util.module_from_spec(spec); spec.loader.exec_module(rf)
        rf.claim({str(out)!r}, "run.json", {{"a": 1}}, resume=False)
        print("locked", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=rf"is in use by process {holder.pid}; wait for it to end"):
            run_folder.claim(str(out), "run.json", {"a": 1}, resume=False)
    finally:
        holder.kill()
        holder.wait()
    assert not run_folder.claim(str(out), "run.json", {"a": 1}, resume=False)  # free once it is gone


@pytest.mark.slow
def test_full_disk_leaves_no_partial_file(tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)]).returncode:
        pytest.skip("mount -t tmpfs is not permitted here")
    out = disk / "run"
    process = start(out)
    try:
        filler = disk / "filler"

        def fill():  # once epoch 1 is backed up, leave the run no space
            if backed_up_epochs(out / "backup") < 1:
                return False
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            return True

        deadline = time.time() + 180
        while not fill() and process.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        _, err = process.communicate(timeout=180)
        assert process.returncode == 1, "the run must fail on the full disk"
        line = one_error_line("\n".join(line for line in err.splitlines() if not line.startswith(TF_NOISE)))
        assert line.startswith("keras-resnet train: error: no space left on the disk of ") and "--resume" in line
        assert not [f for f in os.listdir(out) if f.startswith(".partial") or ".tmp" in f]
        for name in ("best.keras", "last.keras"):
            assert not (out / name).exists() or checkpoints.is_whole_model(out / name)
        done = backed_up_epochs(out / "backup")
        assert done >= 1
        filler.unlink()
        status, stdout, err = resume_in_process(out, capsys)
        assert_finished_exactly(out, status, stdout, err, first=done)
    finally:
        process.kill()
        process.wait()
        subprocess.run(["umount", "-l", str(disk)])


# Folders --------------------------------------------------------------------


def test_resume_of_a_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["train", *args(tmp_path / "nothing", "--resume")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "holds no run to continue" in line and str(tmp_path / "nothing") in line
    assert not (tmp_path / "nothing").exists()


def test_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["train", *args(tmp_path / "f" / "run")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "must be a folder" in line and str(tmp_path / "f") in line


@pytest.mark.parametrize("where", ["proc", "read-only"])
def test_unwritable_output_dir(where, tmp_path, capsys):
    """A folder that cannot be written is refused before anything runs, by root too: /proc
    takes no new folders, whatever the permissions say."""
    if where == "proc":
        parent = "/proc"
    elif os.geteuid() == 0:
        pytest.skip("root writes to any folder that permissions protect")
    else:
        parent = tmp_path / "ro"
        parent.mkdir(mode=0o500)
    assert main(["train", *args(os.path.join(parent, "run"))]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"--output-dir must be a folder you can write to; received --output-dir='{parent}/run'" in line
    assert "is not writable" in line


def test_damaged_json_and_csv_name_the_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": ')
    with pytest.raises(files.RunFolderError, match=f"{path} is damaged .not JSON"):
        files.read_json(str(path))
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3\n4,5\n")
    with pytest.raises(files.RunFolderError, match=f"{table} is damaged: line 3"):
        files.read_csv(str(table))
    table.write_text("a,b\n1,2\n3")
    assert files.read_csv(str(table), partial_last=True) == [{"a": "1", "b": "2"}]


@pytest.mark.parametrize("name, content", [
    ("study.json", '{"budgets": [1'),
    ("tuner/oracle.json", '{"ongoing_trials": {'),
    ("tuner/trial_0000/trial.json", '{"trial_id": "0'),
])
def test_damaged_study_files_name_the_file(tmp_path, name, content):
    """A study folder whose settings, or keras-tuner's own state, were cut short."""
    out, study = tmp_path / "study", {"budgets": [20000], "depths": [10]}
    tune_command.open_study(str(out), study)
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(content)
    with pytest.raises(files.RunFolderError, match="is damaged") as e:
        tune_command.open_study(str(out), study)
    assert str(out / name) in str(e.value)


def test_damaged_study_json_is_one_line_of_the_command(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    (out / "study.json").write_text('{"budgets": [1')
    argv = ["--output-dir", str(out), "--budgets", "20k", "--depths", "10", "--epochs", "1", "--subset", "40",
            "--batch-size", "8", "--verbose", "0"]
    assert main(["tune", *argv]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keras-resnet tune: error: ") and "Traceback" not in err
    assert str(out / "study.json") in lines[0]


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "x.json"
    files.write_json(str(path), {"a": 1})
    with pytest.raises(OSError):
        with files.atomic(str(path)) as partial:
            assert partial.endswith(".json") and os.path.dirname(partial) == str(tmp_path)
            with open(partial, "w") as f:
                f.write("{")
            raise OSError(28, "No space left on device")
    assert json.loads(path.read_text()) == {"a": 1} and os.listdir(tmp_path) == ["x.json"]


def test_a_figure_that_fails_mid_write_keeps_the_previous_one(tmp_path, monkeypatch):
    import matplotlib.figure

    path = tmp_path / "curves.png"
    with figure(str(path), 1, (2, 2)) as (ax,):
        ax.plot([0, 1], label="epoch 1")
    before = path.read_bytes()
    assert before.startswith(b"\x89PNG")

    def full_disk(self, path, **kwargs):
        with open(path, "wb") as f:
            f.write(before[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    with pytest.raises(OSError):
        with figure(str(path), 1, (2, 2)) as (ax,):
            ax.plot([0, 1, 0.5], label="epoch 2")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["curves.png"]


@pytest.mark.parametrize("cli", ["tune", "experiments"])
def test_full_disk_in_a_study_is_one_line(tmp_path, monkeypatch, capsys, cli):
    """The tuner and the experiments stop on a full disk with one line that says how to go on
    (the training command's own case runs for real on a full tmpfs above)."""
    from keras_resnet.experiments import run as experiments_run

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "study" / "x"))

    if cli == "tune":
        monkeypatch.setattr(tune_command, "run_study", full)
        argv = ["tune", "--budgets", "20k", "--depths", "10", "--epochs", "1"]
    else:
        monkeypatch.setattr(experiments_run, "run", full)
        argv = ["experiment", "degradation", "--dataset", "digits", "--seeds", "2"]
    assert main([*argv, "--output-dir", str(tmp_path / "study")]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(TF_NOISE)]
    assert len(lines) == 1 and "error: no space left on the disk of " in lines[0], err
    assert str(tmp_path / "study" / "x") in lines[0] and "run the same command again" in lines[0]
    assert "Traceback" not in err
