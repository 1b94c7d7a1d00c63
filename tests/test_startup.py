"""Start-up: wgf never imports the heavy array libraries POT would pull in (torch, jax, tensorflow, cupy)."""

import subprocess
import sys
import textwrap

HEAVY = ("torch", "jax", "tensorflow", "cupy")


def _fake_heavy_packages(folder):
    """Packages named like the heavy backends whose import leaves a marker file (and would cost seconds)."""
    for name in HEAVY:
        pkg = folder / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(textwrap.dedent(f"""
            import pathlib
            pathlib.Path({str(folder / (name + '.imported'))!r}).touch()
            raise ImportError("{name} is a stand-in")
        """))


def test_import_help_and_exact_ot_import_no_heavy_backend(tmp_path):
    fake = tmp_path / "site"
    fake.mkdir()
    _fake_heavy_packages(fake)
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import wgf
        from wgf.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        from wgf.validation import w2
        assert abs(w2(np.zeros((2, 1)), np.ones((3, 1))) - 1.0) < 1e-12
        assert "ot" in sys.modules
    """)
    env = {"PYTHONPATH": str(fake), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in fake.glob("*.imported")) == []


def test_without_the_switches_pot_would_import_them(tmp_path):
    """The control: the stand-ins are found, so an unguarded ``import ot`` touches them."""
    fake = tmp_path / "site"
    fake.mkdir()
    _fake_heavy_packages(fake)
    env = {"PYTHONPATH": str(fake), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", "import ot"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in fake.glob("*.imported")} >= {"torch.imported", "jax.imported"}
