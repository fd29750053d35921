"""Trit packing: round trip, the 2-bit encoding of docs/codegen.md, rejection of 0b11."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from codegen.errors import CodegenError
from codegen.pack import pack_trits, row_bytes_for, unpack_trits

trit_matrices = st.tuples(st.integers(1, 9), st.integers(1, 70)).flatmap(
    lambda s: hnp.arrays(np.int8, s, elements=st.sampled_from([-1, 0, 1])))


@settings(max_examples=200, deadline=None)
@given(trit_matrices)
def test_round_trip_any_width(t):
    packed = pack_trits(t)
    rows, cols = t.shape
    assert packed.dtype == np.uint8
    assert packed.shape == (rows, -(-cols // 4))            # 2 bits per trit, byte-aligned rows
    np.testing.assert_array_equal(unpack_trits(packed, cols), t)


@settings(max_examples=50, deadline=None)
@given(trit_matrices, st.integers(0, 5))
def test_round_trip_with_extra_row_padding(t, extra):
    rb = row_bytes_for(t.shape[1]) + extra
    packed = pack_trits(t, row_bytes=rb)
    assert packed.shape == (t.shape[0], rb)
    assert not packed[:, row_bytes_for(t.shape[1]):].any()  # padding is zero trits
    np.testing.assert_array_equal(unpack_trits(packed, t.shape[1]), t)


@pytest.mark.parametrize("value,code", [(0, 0b00), (1, 0b01), (-1, 0b10)])
@pytest.mark.parametrize("j", range(9))
def test_encoding_table_and_bit_position(value, code, j):
    t = np.zeros((1, 9), np.int8)
    t[0, j] = value
    packed = pack_trits(t)
    expected = np.zeros(3, np.uint8)
    expected[j // 4] = code << (2 * (j % 4))                 # LSB first within the byte
    np.testing.assert_array_equal(packed[0], expected)


def test_known_byte():
    assert pack_trits(np.array([[0, 1, -1, 0]]))[0, 0] == 0b00_10_01_00
    assert pack_trits(np.array([[-1, -1, -1, -1]]))[0, 0] == 0b10101010


@pytest.mark.parametrize("byte", [0b11, 0b1100, 0b110000, 0b11000000, 0xFF])
def test_code_0b11_rejected(byte):
    with pytest.raises(CodegenError, match="0b11"):
        unpack_trits(np.array([[byte]], np.uint8), 4)


def test_trit_out_of_range_rejected():
    with pytest.raises(CodegenError, match="row 0, column 2 is 2"):
        pack_trits(np.array([[0, 1, 2]], np.int8))


def test_nonzero_padding_rejected():
    with pytest.raises(CodegenError, match="padding"):
        unpack_trits(np.array([[0b01000000]], np.uint8), 3)
