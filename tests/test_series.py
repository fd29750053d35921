"""trainer.series: a user's time series read, checked, split in time, windowed and scaled."""
import numpy as np
import pytest

from cfcbase.series import (RANGE_FILL, SeriesError, SeriesSpec, build, read_table,
                            saturation_counts)


def write_csv(path, header, rows):
    with open(path, "w") as f:
        if header is not None:
            f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")
    return path


def two_channel_csv(tmp_path, n=400):
    t = np.arange(n)
    a = np.sin(2 * np.pi * t / 23) + 0.01 * t
    b = np.cos(2 * np.pi * t / 17) * 3 + 10
    return write_csv(tmp_path / "s.csv", ["a", "b"], zip(a, b)), np.stack([a, b], 1)


def test_windows_are_contiguous_blocks_with_the_target_ahead(tmp_path):
    path, raw = two_channel_csv(tmp_path)
    d = build(SeriesSpec(path, inputs=("a", "b"), target="b", horizon=3, seq_len=20))
    assert d.rows == {"train": (0, 280), "val": (280, 340), "test": (340, 400)}
    # scaling from the training block only
    tr = raw[:280]
    np.testing.assert_allclose(d.x_scaling.offset, tr.mean(0))
    np.testing.assert_allclose(d.x_scaling.scale, np.abs(tr - tr.mean(0)).max(0) / RANGE_FILL)
    assert np.abs(d.x["train"]).max() <= RANGE_FILL + 1e-12
    for split, (a, b) in d.rows.items():
        x, y = d.x[split], d.y[split]
        assert x.shape[1:] == (20, 2) and y.shape[1:] == (20, 1)
        assert x.shape[0] == (b - a - 23) // 20 + 1
        for k in range(x.shape[0]):
            r = a + 20 * k
            assert r + 20 + 3 <= b                       # no window reads past its block
            np.testing.assert_allclose(x[k] * d.x_scaling.scale + d.x_scaling.offset, raw[r:r + 20])
            np.testing.assert_allclose(d.unscale_y(y[k, :, 0]), raw[r + 3:r + 23, 1])


def test_defaults_forecast_the_next_value_of_the_first_column(tmp_path):
    path, raw = two_channel_csv(tmp_path)
    d = build(SeriesSpec(path, seq_len=10))
    assert d.inputs == ["a"] and d.target == "a"
    np.testing.assert_allclose(d.unscale_y(d.y["train"][0, :, 0]), raw[1:11, 0])


def test_numpy_files_load_like_csv(tmp_path):
    path, raw = two_channel_csv(tmp_path)
    np.save(tmp_path / "s.npy", raw)
    np.savez(tmp_path / "s.npz", a=raw[:, 0], b=raw[:, 1])
    t_csv, t_npy, t_npz = (read_table(p) for p in (path, tmp_path / "s.npy", tmp_path / "s.npz"))
    np.testing.assert_allclose(t_npy.values, t_csv.values)
    np.testing.assert_allclose(t_npz.values, t_csv.values)
    assert t_npy.names == ["c0", "c1"] and t_npz.names == ["a", "b"]


def test_saturation_counts_values_past_the_q14_range(tmp_path):
    n = 300
    v = np.zeros(n)
    v[:210] = np.sin(np.arange(210))
    v[210:] = 5.0 * np.sin(np.arange(90))          # test and val swing 5x the training range
    d = build(SeriesSpec(write_csv(tmp_path / "s.csv", ["v"], zip(v)), seq_len=10))
    sat = saturation_counts(d)
    assert sat["train"] == {"inputs": 0, "target": 0}
    assert sat["test"]["inputs"] > 0 and sat["test"]["target"] > 0


# ---- bad data: one line naming the file and what is at fault -------------------------------

def expect(match, fn):
    with pytest.raises(SeriesError, match=match) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_missing_column(tmp_path):
    path, _ = two_channel_csv(tmp_path)
    msg = expect(r"no column 'c' for --inputs", lambda: build(SeriesSpec(path, inputs=("a", "c"))))
    assert str(path) in msg and "columns: a, b" in msg
    expect(r"no column 'z' for --target", lambda: build(SeriesSpec(path, target="z")))


def test_non_numeric_cell_names_row_and_column(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["a", "b"], [(1, 2), (3, "oops"), (5, 6)])
    msg = expect(r"row 3, column .b.: .oops. is not a number", lambda: read_table(path).values)
    assert msg.startswith(str(path))


def test_nan_and_inf_say_where(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["a", "b"], [(1, 2), (3, 4), ("nan", 6), (7, "inf")])
    expect(r"row 4, column .a.: nan \(1 non-finite value\(s\) in the column\)", lambda: read_table(path).values)
    np.save(tmp_path / "s.npy", np.array([[1.0, 2.0], [np.inf, 3.0]]))
    expect(r"row 1, column .c0.: inf", lambda: read_table(tmp_path / "s.npy").values)


def test_constant_channel(tmp_path):
    n = 300
    path = write_csv(tmp_path / "s.csv", ["a", "flat"], zip(np.sin(np.arange(n)), np.ones(n)))
    expect(r"column 'flat' is constant over the training rows 0-209",
           lambda: build(SeriesSpec(path, inputs=("a", "flat"), seq_len=10)))


def test_too_few_rows_for_one_window_per_split(tmp_path):
    path, _ = two_channel_csv(tmp_path, n=100)
    expect(r"give the val block 15 rows, fewer than one window \(seq-len 50 \+ horizon 1 = 51 rows\); "
           r"need at least 340 rows", lambda: build(SeriesSpec(path, seq_len=50)))


def test_header_less_csv(tmp_path):
    path = write_csv(tmp_path / "s.csv", None, [(1, 2), (3, 4)])
    expect(r"the first row is all numbers; a header row naming the columns is required", lambda: read_table(path))


def test_not_csv_or_numpy(tmp_path):
    (tmp_path / "s.txt").write_text("a,b\n1,2\n")
    expect(r"s.txt: not a CSV \(.csv\) or NumPy \(.npy, .npz\) file", lambda: read_table(tmp_path / "s.txt"))
    (tmp_path / "s.npy").write_bytes(b"this is not numpy")
    expect(r"s.npy: not a readable NumPy file", lambda: read_table(tmp_path / "s.npy"))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    expect(r"bin.csv: not a text CSV file", lambda: read_table(tmp_path / "bin.csv"))
    expect(r"nope.csv: no such file", lambda: read_table(tmp_path / "nope.csv"))


def test_ragged_rows_and_bad_header(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["a", "b"], [(1, 2), (3,)])
    expect(r"row 3 has 1 fields, the header 2", lambda: read_table(path))
    path = write_csv(tmp_path / "d.csv", ["a", "a"], [(1, 2)])
    expect(r"column name 'a' appears twice", lambda: read_table(path))


def test_unused_columns_may_hold_anything(tmp_path):
    n = 300
    rows = [(f"2026-01-01 00:00:{i:05d}", np.sin(i / 5), np.cos(i / 7), "walk") for i in range(n)]
    path = write_csv(tmp_path / "s.csv", ["timestamp", "x", "y", "label"], rows)
    d = build(SeriesSpec(path, inputs=("x", "y"), target="y", seq_len=10))
    assert d.x["train"].shape[2] == 2
    expect(r"row 2, column 'label': 'walk' is not a number",
           lambda: build(SeriesSpec(path, inputs=("x", "label"), seq_len=10)))
