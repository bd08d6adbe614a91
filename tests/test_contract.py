"""The run-dataset contract: docs/contract.md says what training.rundata writes and checks, and files of the
earlier schema still open."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import training
from fittest.errors import InputError
from training import rundata

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "contract.md").read_text()
SHIPPED = ROOT / "datasets" / "p59_d128_default.nc"


def _documented_variables() -> set[str]:
    names = set()
    for line in PAGE.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_0-9{}]+)`", line.split("|")[1]))
    return names


def test_every_variable_and_coordinate_of_the_contract_is_on_the_page():
    documented = _documented_variables()
    missing = [name for name in (*rundata.VARIABLES, *rundata.COORDS) if name not in documented]
    assert not missing, f"docs/contract.md lacks {missing}"
    assert f"`{rundata.SCHEMA}`" in PAGE
    assert {"signal", "amplitude", "grad_signal", "{site}_signal", "{site}_grad_signal"} <= documented


def test_the_page_lists_the_variables_a_site_writes():
    site = rundata.SiteLayout("hidden", training.bases.fourier(7), unit="hidden_unit", units=3)
    assert set(site.variables()) == {"hidden_signal", "hidden_grad_signal"}
    embedding = rundata.SiteLayout(rundata.EMBEDDING, training.bases.fourier(7))
    assert set(embedding.variables()) == {"amplitude", "signal", "grad_signal"}


def test_a_schema_1_file_opens_unchanged_and_describes_its_one_site():
    ds = training.open_run(SHIPPED)
    assert ds.attrs["schema"] == "fittest.run/1" and "sites" not in ds.attrs
    sites = training.sites_of(ds)
    assert list(sites) == ["embedding"] and sites["embedding"]["component"] == "frequency"
    assert sites["embedding"]["variables"] == ["amplitude", "signal", "grad_signal"]


def test_check_run_refuses_text_where_numbers_belong_and_a_run2_without_sites():
    ds = training.open_run(SHIPPED).isel(step=slice(0, 3))
    bad = ds.assign(amplitude=ds["amplitude"].astype(str))
    with pytest.raises(InputError, match="amplitude holds .* not numbers"):
        training.check_run(bad)
    no_sites = ds.copy()
    no_sites.attrs["schema"] = rundata.SCHEMA
    with pytest.raises(InputError, match="lists no recorded site"):
        training.check_run(no_sites)


def test_a_trained_run_declares_its_sites_and_component_dims():
    ds = training.train(training.TrainConfig(p=7, d=4, runs=1, steps=3, hidden=8, device="cpu", record_neurons=True))
    sites = training.sites_of(ds)
    assert ds.attrs["schema"] == "fittest.run/2" and set(sites) == {"embedding", "unembed", "neuron"}
    assert ds["signal"].attrs["component"] == "frequency" and ds["signal"].attrs["site"] == "embedding"
    assert ds["neuron_signal"].dims == ("run", "step", "unit1", "frequency")
    assert ds["neuron_signal"].attrs["unit"] == "unit1"
    np.testing.assert_allclose(ds["amplitude"] ** 2, ds["signal"], rtol=1e-6)
