"""The command line's own messages: one-line argparse errors, the bare command's help."""
import pytest

from motiongen.cli import main


@pytest.mark.parametrize("argv, expected", [
    (["generate", "x", "--sampler", "dmp", "--out", "o"],
     "motiongen generate: error: argument --sampler: invalid choice: 'dmp' (choose from"),
    (["generate", "x", "--seconds", "four", "--out", "o"], "motiongen generate: error: argument --seconds:"),
    (["generate", "x"], "motiongen generate: error: the following arguments are required: --out"),
    (["convert", "a.bvh", "b.npy", "--rig", "mixamoo"], "motiongen convert: error: argument --rig: invalid choice"),
    (["data", "show", "d"], "motiongen data show: error: the following arguments are required"),
    (["generat", "x"], "motiongen: error: argument COMMAND: invalid choice: 'generat'"),
])
def test_argparse_errors_are_one_line_and_exit_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith(expected), err
    assert err.count("\n") == 1 and "usage:" not in err, err


def test_help_is_still_full(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", "-h"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: motiongen generate") and "--sampler" in out


def test_bare_motiongen_prints_the_help_and_exits_0(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: motiongen") and "generate" in out and "convert" in out
