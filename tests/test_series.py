"""trainer.series: a user's time series read, checked, split in time, windowed and scaled."""
import numpy as np
import pytest

from cfcbase import table
from cfcbase.series import (RANGE_FILL, SeriesError, SeriesSpec, build, read_table,
                            values_past_q14)


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


def test_values_past_the_q14_range_are_counted(tmp_path):
    n = 300
    v = np.zeros(n)
    v[:210] = np.sin(np.arange(210))
    v[210:] = 5.0 * np.sin(np.arange(90))          # test and val swing 5x the training range
    d = build(SeriesSpec(write_csv(tmp_path / "s.csv", ["v"], zip(v)), seq_len=10))
    sat = values_past_q14(d)
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


def test_inf_says_where_nan_and_empty_cells_are_missing_values(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["a", "b"], [(1, 2), (3, 4), ("nan", 6), (7, "inf")])
    expect(r"row 5, column .b.: inf \(1 infinite value\(s\) in the column\)", lambda: read_table(path).values)
    np.save(tmp_path / "s.npy", np.array([[1.0, 2.0], [np.inf, 3.0]]))
    expect(r"row 1, column .c0.: inf", lambda: read_table(tmp_path / "s.npy").values)
    path = write_csv(tmp_path / "m.csv", ["a", "b"], [(1, 2), (3, ""), ("nan", 6), (7, " ")])
    np.testing.assert_array_equal(np.isnan(read_table(path).values), [[0, 0], [0, 1], [1, 0], [0, 1]])


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


def test_a_byte_order_mark_is_dropped(tmp_path):
    path, raw = two_channel_csv(tmp_path)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    t = read_table(bom)
    assert t.names == ["a", "b"]
    np.testing.assert_array_equal(t.values, read_table(path).values)
    assert build(SeriesSpec(bom, inputs=("a",), target="b", seq_len=10)).inputs == ["a"]


def test_unused_column_names_and_cells_may_be_anything_used_ones_are_safe_text(tmp_path):
    n = 300
    names = ["when */ {$x}", "x", "y", "note\x1b[31m"]
    rows = [(f"2026-01-01 'quoted' {i}", np.sin(i / 5), np.cos(i / 7), "\u00e9t\u00e9 ~ *") for i in range(n)]
    path = tmp_path / "s.csv"
    import csv
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(rows)
    d = build(SeriesSpec(path, inputs=("x",), target="y", seq_len=10))
    assert d.x["train"].shape[2] == 1
    msg = expect(r"column 'note\\x1b\[31m' \(the target\): character '\\x1b' \(U\+001B\) at position 4 is not "
                 r"allowed", lambda: build(SeriesSpec(path, inputs=("x",), target=names[3], seq_len=10)))
    assert "\x1b" not in msg                        # control characters never reach the terminal
    msg = expect(r"no column 'z' for --inputs \(columns: 'when \*/ \{\$x\}', x, y, 'note\\x1b\[31m'\)",
                 lambda: build(SeriesSpec(path, inputs=("z",), seq_len=10)))
    assert "\x1b" not in msg


def test_windows_beyond_the_cap_are_evenly_spaced_over_the_block(tmp_path, monkeypatch):
    import cfcbase.series as series
    path, raw = two_channel_csv(tmp_path, n=1000)
    full = build(SeriesSpec(path, inputs=("a",), seq_len=10))
    monkeypatch.setattr(series, "MAX_WINDOWS", 7)
    d = build(SeriesSpec(path, inputs=("a",), seq_len=10))
    assert d.sizes() == ("train rows 0-699 (69 windows, 7 used: evenly spaced), val rows 700-849 (14 windows, "
                         "7 used: evenly spaced), test rows 850-999 (14 windows, 7 used: evenly spaced)")
    pick = np.linspace(0, 68, 7).round().astype(int)           # 0, 11, 23, 34, 45, 57, 68
    np.testing.assert_array_equal(d.x["train"], full.x["train"][pick])
    np.testing.assert_array_equal(d.y["test"], full.y["test"][np.linspace(0, 13, 7).round().astype(int)])
    np.testing.assert_array_equal(d.x_scaling.offset, full.x_scaling.offset)   # fitted on every training row


def test_numpy_headers_are_checked_before_the_data_is_read(tmp_path, monkeypatch):
    import io
    import zipfile
    # a .npy whose header declares more rows than the file holds
    a = np.arange(600.0).reshape(300, 2)
    np.save(tmp_path / "s.npy", a)
    b = (tmp_path / "s.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(b[:len(b) - 80])
    expect(r"short.npy: the file is shorter than its header declares \(\(300, 2\), float64\)",
           lambda: read_table(tmp_path / "short.npy"))
    # an .npz member whose header declares more values than the member holds
    h = io.BytesIO()
    np.lib.format.write_array_header_1_0(h, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 5,)})
    with zipfile.ZipFile(tmp_path / "lie.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.npy", h.getvalue() + bytes(800))
    expect(r"lie.npz: key 'a' declares 100000 values of float64, more than it holds",
           lambda: read_table(tmp_path / "lie.npz"))
    # 2-D members, complex numbers, honest members past the size bound
    np.savez(tmp_path / "m.npz", a=a)
    expect(r"m.npz: key 'a' has shape \(300, 2\); expected one 1-D column per key", lambda: read_table(tmp_path / "m.npz"))
    np.savez(tmp_path / "c.npz", a=np.ones(300, complex))
    expect(r"c.npz: key 'a' holds dtype complex128; expected real numbers", lambda: read_table(tmp_path / "c.npz"))
    np.savez_compressed(tmp_path / "ok.npz", a=np.zeros(300), b=np.zeros(300))   # small on disk
    monkeypatch.setattr(table, "MAX_FILE_BYTES", 4000)
    expect(r"ok.npz: key 'b' declares 2528 bytes uncompressed; at most 4000 bytes in all are read",
           lambda: read_table(tmp_path / "ok.npz"))
