import os

import numpy as np
import pytest
import xarray as xr

from fittest.atomic import output_folder, write_atomic, write_netcdf
from fittest.errors import InputError


def test_netcdf_roundtrip_and_permissions(tmp_path):
    ds = xr.Dataset({"x": ("t", np.arange(5.0))})
    path = write_netcdf(ds, tmp_path / "a.nc")
    xr.testing.assert_identical(xr.load_dataset(path, engine="h5netcdf"), ds)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.nc"]


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_netcdf(xr.Dataset(), tmp_path / "nope" / "a.nc")


def test_output_folder_makes_one_level_only(tmp_path):
    assert output_folder(tmp_path / "new").is_dir()
    assert not output_folder(tmp_path / "later", create=False).exists()
    with pytest.raises(InputError, match="parent folder .* does not exist"):
        output_folder(tmp_path / "typo" / "out")
    assert not (tmp_path / "typo").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file"):
        output_folder(tmp_path / "file")


def test_a_folder_is_not_a_destination_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        write_netcdf(xr.Dataset(), tmp_path)
    assert list(tmp_path.iterdir()) == []
