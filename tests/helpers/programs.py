"""The programs of webvision/commands/ called in this process, as timm's tests call their CLIs: main()
with the arguments, its output captured, SystemExit (argparse's errors) taken as the exit status."""
import contextlib
import gc
import importlib
import io
import subprocess


def run_program(name, *args):
    """webvision.commands.<name>.main(args): a CompletedProcess (returncode, stdout, stderr as text)."""
    module = importlib.import_module('webvision.commands.' + name)
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    gc_was_on = gc.isenabled()          # the scoring tools switch the collector off for their process
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = module.main(argv)
        except SystemExit as e:
            code = e.code
            if isinstance(code, str):
                print(code, file=err)
                code = 1
        finally:
            if gc_was_on:
                gc.enable()
    return subprocess.CompletedProcess([name] + argv, code or 0, out.getvalue(), err.getvalue())
