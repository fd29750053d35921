/*
 * The per-row and per-unit passes of trix_cell_step_q14 (docs/fixed_point.md, 3a): portable C,
 * and assembly on Cortex-M where the instruction count is the point.
 *
 * Per row r (acc15 in acc[r], codegen's record {M, K, s} in requant, Lg = pre_shift):
 *
 *     hi = ((acc15 << Lg) * M) >> 32            one SMMUL (DSP) / SMULL
 *     u  = clamp(((hi >> s) + K) >> 1, 0, 2^20 - 1)     = clamp(pre + 8.0 in Q16): one USAT
 *     i  = u >> 10,  f = u & 1023
 *     out = ((1024 - f) t[i] + f t[i + 1] + 512) >> 10  = t[i] + ((t[i+1] - t[i]) f + 512) >> 10
 *
 * which is sections 3 and 4 exactly (codegen.golden.device_u / device_lut_q15 and their tests).
 * On the DSP cores the pair t[i], t[i + 1] is one (unaligned) LDR and the interpolation one
 * SMLAD with the pair (1024 - f, f) = f * 65535 + 1024 (one MLA).
 *
 * Per unit i (g = acc[i], c = acc[H + i]): the state update of section 5 in place in h and the
 * readout's sum of section 6, returned without its bias.
 */
#include "trix_cell.h"

#define TRIX_SPAN_MAX ((1 << TRIX_TABLE_SPAN_BITS) - 1)

#if TRIX_HAVE_THUMB2
/*
 * Thumb-2 (Cortex-M3 and later). Rows: r0 = acc, r1 = rows, r2 = requant, r3 = Lg, [sp] = table;
 * r4 and r8 the two rows' sums, r5-r7 their records, r12 the table, r9-r11 the constants 1024,
 * 65535, 512 (lr: SMULL's low word on the M3). Units:
 * r0 = g (c at r0 + 4H), r1 = h, r2 = lam, r3 = w_o, [sp] = H; r4:r5 the readout sum.
 * Both loops run two rows / units per iteration (after one alone when the count is odd).
 */
void trix_rows_t2(int32_t *acc, int rows, const int32_t *requant, int pre_shift, const int16_t *table);
int64_t trix_units_t2(const int32_t *acc, int16_t *h, const int16_t *lam_q15, const int32_t *w_o, int hidden);

/* One row's acc15 in register X -> its activation in X; M, K, S: the record's registers (free
 * after use: the table step reuses them). */
#if TRIX_HAVE_DSP
/* hi = SMMUL; the table pair by one unaligned LDR (ARMv7-M allows it for LDR) and one SMLAD */
#define TRIX_ROW_T2(X, M, K, S) \
    "lsl    " X ", " X ", r3\n\t" \
    "smmul  " X ", " X ", " M "\n\t" \
    "asr    " X ", " X ", " S "\n\t" \
    "add    " X ", " X ", " K "\n\t" \
    "usat   " X ", #20, " X ", asr #1\n\t"    /* u */ \
    "lsr    " M ", " X ", #10\n\t"            /* i */ \
    "ubfx   " X ", " X ", #0, #10\n\t"        /* f */ \
    "mla    " X ", " X ", r10, r9\n\t"        /* f << 16 | (1024 - f) */ \
    "ldr    " M ", [r12, " M ", lsl #1]\n\t"  /* t[i] | t[i + 1] << 16 */ \
    "smlad  " X ", " M ", " X ", r11\n\t" \
    "asr    " X ", " X ", #10\n\t"
#else
/* ARMv7-M without DSP (Cortex-M3): SMULL (low word to lr), two LDRSH and the difference */
#define TRIX_ROW_T2(X, M, K, S) \
    "lsl    " X ", " X ", r3\n\t" \
    "smull  lr, " X ", " X ", " M "\n\t" \
    "asr    " X ", " X ", " S "\n\t" \
    "add    " X ", " X ", " K "\n\t" \
    "usat   " X ", #20, " X ", asr #1\n\t" \
    "lsr    " M ", " X ", #10\n\t" \
    "add    " M ", r12, " M ", lsl #1\n\t" \
    "ldrsh  " K ", [" M "]\n\t"               /* t[i] */ \
    "ldrsh  " M ", [" M ", #2]\n\t"           /* t[i + 1] */ \
    "ubfx   " X ", " X ", #0, #10\n\t" \
    "sub    " M ", " M ", " K "\n\t" \
    "mla    " M ", " M ", " X ", r11\n\t" \
    "add    " X ", " K ", " M ", asr #10\n\t"
#endif
/* two rows: LDRD / STRD of their sums, one LDM per record */
#define TRIX_ROWS2_T2 \
    "ldrd   r4, r8, [r0]\n\t" \
    "ldmia  r2!, {r5, r6, r7}\n\t"            /* M, K, s */ \
    TRIX_ROW_T2("r4", "r5", "r6", "r7") \
    "ldmia  r2!, {r5, r6, r7}\n\t" \
    TRIX_ROW_T2("r8", "r5", "r6", "r7") \
    "strd   r4, r8, [r0], #8\n\t"
#define TRIX_ROW1_T2 \
    "ldr    r4, [r0]\n\t" \
    "ldmia  r2!, {r5, r6, r7}\n\t" \
    TRIX_ROW_T2("r4", "r5", "r6", "r7") \
    "str    r4, [r0], #4\n\t"

/* d = (lam (32768 - g) + 2^14) >> 15 = lam + ((2^14 - lam g) >> 15) (lam 2^15 is a multiple of
 * 2^15: one MLS and one ADD); h = sat16((d h + g c + 2^14) >> 15); sum += w_o h */
#define TRIX_UNIT_T2 \
    "ldr    r7, [r0, r11]\n\t"        /* c */ \
    "ldr    r6, [r0], #4\n\t"         /* g */ \
    "ldrsh  r8, [r2], #2\n\t"         /* lam */ \
    "mls    r9, r8, r6, r10\n\t"      /* 2^14 - lam g */ \
    "add    r8, r8, r9, asr #15\n\t"  /* d */ \
    "ldrsh  r9, [r1]\n\t"             /* h */ \
    "mla    r7, r6, r7, r10\n\t" \
    "mla    r7, r8, r9, r7\n\t" \
    "ssat   r7, #16, r7, asr #15\n\t" \
    "strh   r7, [r1], #2\n\t" \
    "ldr    r6, [r3], #4\n\t"         /* w_o */ \
    "smlal  r4, r5, r6, r7\n\t"

__asm__(
    ".syntax unified\n\t"
    ".thumb\n\t"
    ".text\n\t"
    ".balign 4\n\t"
    ".global trix_rows_t2\n\t"
    ".hidden trix_rows_t2\n\t"
    ".type trix_rows_t2, %function\n\t"
    ".thumb_func\n"
    "trix_rows_t2:\n\t"
    "push   {r4-r11, lr}\n\t"
    "ldr    r12, [sp, #36]\n\t"
    "mov    r9, #1024\n\t"
    "movw   r10, #65535\n\t"
    "mov    r11, #512\n\t"
    "tst    r1, #1\n\t"               /* odd rows: one alone first */
    "add    r1, r0, r1, lsl #2\n\t"   /* end */
    "beq    1f\n\t"
    TRIX_ROW1_T2
    "1:\n\t"
    "cmp    r0, r1\n\t"
    "beq    3f\n"
    "2:\n\t"
    TRIX_ROWS2_T2
    "cmp    r0, r1\n\t"
    "bne    2b\n"
    "3:\n\t"
    "pop    {r4-r11, pc}\n\t"
    ".size trix_rows_t2, .-trix_rows_t2\n\t"

    ".balign 4\n\t"
    ".global trix_units_t2\n\t"
    ".hidden trix_units_t2\n\t"
    ".type trix_units_t2, %function\n\t"
    ".thumb_func\n"
    "trix_units_t2:\n\t"
    "push   {r4-r11, lr}\n\t"
    "ldr    r12, [sp, #36]\n\t"       /* H */
    "movs   r4, #0\n\t"
    "movs   r5, #0\n\t"
    "lsl    r11, r12, #2\n\t"         /* c - g */
    "mov    r10, #16384\n\t"
    "tst    r12, #1\n\t"
    "add    r12, r1, r12, lsl #1\n\t" /* end of h */
    "beq    1f\n\t"
    TRIX_UNIT_T2
    "1:\n\t"
    "cmp    r1, r12\n\t"
    "beq    3f\n"
    "2:\n\t"
    TRIX_UNIT_T2
    TRIX_UNIT_T2
    "cmp    r1, r12\n\t"
    "bne    2b\n"
    "3:\n\t"
    "mov    r0, r4\n\t"
    "mov    r1, r5\n\t"
    "pop    {r4-r11, pc}\n\t"
    ".size trix_units_t2, .-trix_units_t2\n\t"
);
#undef TRIX_ROW_T2
#undef TRIX_ROWS2_T2
#undef TRIX_ROW1_T2
#undef TRIX_UNIT_T2

void trix_activations_q15(int32_t *acc, int rows, const int32_t *requant, int pre_shift, const int16_t *table)
{
    if (rows > 0) trix_rows_t2(acc, rows, requant, pre_shift, table);
}

int64_t trix_update_state(const int32_t *acc, int hidden, int16_t *h, const int16_t *lam_q15, const int32_t *w_o)
{
    return hidden > 0 ? trix_units_t2(acc, h, lam_q15, w_o, hidden) : 0;
}

#elif defined(__ARM_ARCH_6M__) && defined(__thumb__)
/*
 * ARMv6-M (Cortex-M0/M0+, the nRF51): Thumb-1, no SMULL, no USAT, 2-operand MULS on r0-r7 only.
 * The high word is four 16 x 16 MULS (Hacker's Delight mulhs: a = a1 2^16 + a0, M = b1 2^16 + b0,
 * hi = a1 b1 + (t >> 16) + (w1 >> 16) with t = a1 b0 + (a0 b0 >> 16), w1 = a0 b1 + (t & 0xFFFF);
 * no partial sum leaves int32 for |a| < 2^31 and 0 < M < 2^31). The clamp is one test of
 * v >> 20 with a branch out for the (rare) saturated rows.
 * Rows: r7 = acc, r6 = requant, r5 = table, r8-r11 = -, Lg, end, 512; r0-r4 the row's temporaries.
 * Units: r7 = g, r6 = h, r4:r5 = the readout sum, r8-r12 = lam, w_o, 4H, end of h, 16384.
 */
void trix_rows_t1(int32_t *acc, int rows, const int32_t *requant, int pre_shift, const int16_t *table);
int64_t trix_units_t1(const int32_t *acc, int16_t *h, const int16_t *lam_q15, const int32_t *w_o, int hidden);

/* One row; `back` is the label after it (where its clamp returns), `out` its clamp. */
#define TRIX_ROW_T1(back, out) \
    "ldr    r0, [r7]\n\t"           /* acc15 */ \
    "ldm    r6!, {r1}\n\t"          /* M */ \
    "mov    r2, r9\n\t" \
    "lsls   r0, r2\n\t"             /* a = acc15 << Lg */ \
    "uxth   r2, r0\n\t"             /* a0 */ \
    "asrs   r0, r0, #16\n\t"        /* a1 */ \
    "uxth   r3, r1\n\t"             /* b0 */ \
    "lsrs   r1, r1, #16\n\t"        /* b1 */ \
    "movs   r4, r2\n\t" \
    "muls   r4, r3\n\t"             /* a0 b0 (unsigned) */ \
    "lsrs   r4, r4, #16\n\t" \
    "muls   r3, r0\n\t"             /* a1 b0 */ \
    "adds   r3, r4\n\t"             /* t */ \
    "muls   r2, r1\n\t"             /* a0 b1 */ \
    "uxth   r4, r3\n\t" \
    "adds   r2, r4\n\t"             /* w1 */ \
    "asrs   r3, r3, #16\n\t" \
    "muls   r0, r1\n\t"             /* a1 b1 */ \
    "adds   r0, r3\n\t" \
    "asrs   r2, r2, #16\n\t" \
    "adds   r0, r2\n\t"             /* hi */ \
    "ldm    r6!, {r1, r2}\n\t"      /* K, s */ \
    "asrs   r0, r2\n\t" \
    "adds   r0, r1\n\t" \
    "asrs   r0, r0, #1\n\t"         /* v */ \
    "lsrs   r1, r0, #20\n\t" \
    "bne    " out "f\n"             /* v outside [0, 2^20): clamp */ \
    back ":\n\t" \
    "lsrs   r1, r0, #10\n\t" \
    "lsls   r1, r1, #1\n\t"         /* 2 i */ \
    "ldrsh  r3, [r5, r1]\n\t"       /* t[i] */ \
    "adds   r1, #2\n\t" \
    "ldrsh  r2, [r5, r1]\n\t"       /* t[i + 1] */ \
    "subs   r2, r2, r3\n\t" \
    "lsls   r0, r0, #22\n\t" \
    "lsrs   r0, r0, #22\n\t"        /* f */ \
    "muls   r2, r0\n\t" \
    "add    r2, r11\n\t" \
    "asrs   r2, r2, #10\n\t" \
    "adds   r2, r3\n\t" \
    "stm    r7!, {r2}\n\t"

/* v < 0 -> 0, v >= 2^20 -> 2^20 - 1, back to the row */
#define TRIX_CLAMP_T1(out, back) \
    out ":\n\t" \
    "cmp    r0, #0\n\t" \
    "blt    " out "0f\n\t" \
    "ldr    r0, 7f\n\t" \
    "b      " back "b\n" \
    out "0:\n\t" \
    "movs   r0, #0\n\t" \
    "b      " back "b\n\t"

/* One unit (its state update and readout term); `back` / `out` as in TRIX_ROW_T1. */
#define TRIX_UNIT_T1(back, out) \
    "ldr    r0, [r7]\n\t"           /* g */ \
    "mov    r1, r10\n\t" \
    "ldr    r1, [r7, r1]\n\t"       /* c */ \
    "adds   r7, #4\n\t" \
    "mov    r2, r8\n\t" \
    "ldrh   r3, [r2]\n\t"           /* lam (>= 0) */ \
    "adds   r2, #2\n\t" \
    "mov    r8, r2\n\t" \
    "movs   r2, #128\n\t" \
    "lsls   r2, r2, #8\n\t" \
    "subs   r2, r2, r0\n\t"         /* 32768 - g */ \
    "muls   r2, r3\n\t" \
    "add    r2, r12\n\t" \
    "asrs   r2, r2, #15\n\t"        /* d */ \
    "muls   r0, r1\n\t"             /* g c */ \
    "ldrh   r1, [r6]\n\t" \
    "sxth   r1, r1\n\t"             /* h */ \
    "muls   r2, r1\n\t"             /* d h */ \
    "adds   r0, r2\n\t" \
    "add    r0, r12\n\t" \
    "asrs   r0, r0, #15\n\t" \
    "sxth   r1, r0\n\t" \
    "cmp    r1, r0\n\t" \
    "bne    " out "f\n"             /* outside int16: saturate */ \
    back ":\n\t" \
    "strh   r0, [r6]\n\t" \
    "adds   r6, #2\n\t" \
    "mov    r2, r9\n\t" \
    "ldm    r2!, {r1}\n\t"          /* w_o */ \
    "mov    r9, r2\n\t" \
    "uxth   r2, r1\n\t"             /* w_o = wh 2^16 + wl */ \
    "asrs   r1, r1, #16\n\t" \
    "muls   r2, r0\n\t"             /* wl h: fits int32 */ \
    "muls   r1, r0\n\t"             /* wh h */ \
    "asrs   r3, r2, #31\n\t" \
    "adds   r4, r2\n\t" \
    "adcs   r5, r3\n\t" \
    "lsls   r3, r1, #16\n\t" \
    "asrs   r1, r1, #16\n\t" \
    "adds   r4, r3\n\t" \
    "adcs   r5, r1\n\t"

#define TRIX_SAT_T1(out, back) \
    out ":\n\t" \
    "cmp    r0, #0\n\t" \
    "blt    " out "0f\n\t" \
    "ldr    r0, 7f\n\t"             /* 32767 */ \
    "b      " back "b\n" \
    out "0:\n\t" \
    "ldr    r0, 8f\n\t"             /* -32768 */ \
    "b      " back "b\n\t"

#define TRIX_PUSH_T1 \
    "push   {r4-r7, lr}\n\t" \
    "mov    r4, r8\n\t" \
    "mov    r5, r9\n\t" \
    "mov    r6, r10\n\t" \
    "mov    r7, r11\n\t" \
    "push   {r4-r7}\n\t"
#define TRIX_POP_T1 \
    "pop    {r4-r7}\n\t" \
    "mov    r8, r4\n\t" \
    "mov    r9, r5\n\t" \
    "mov    r10, r6\n\t" \
    "mov    r11, r7\n\t" \
    "pop    {r4-r7, pc}\n\t"

/* Both loops run two rows / units per iteration, entering at the second when the count is odd. */
__asm__(
    ".syntax unified\n\t"
    ".thumb\n\t"
    ".text\n\t"
    ".balign 4\n\t"
    ".global trix_rows_t1\n\t"
    ".hidden trix_rows_t1\n\t"
    ".type trix_rows_t1, %function\n\t"
    ".thumb_func\n"
    "trix_rows_t1:\n\t"
    TRIX_PUSH_T1
    "ldr    r5, [sp, #36]\n\t"      /* table */
    "mov    r9, r3\n\t"             /* Lg */
    "lsls   r3, r1, #2\n\t"
    "adds   r3, r0, r3\n\t"
    "mov    r10, r3\n\t"            /* end */
    "movs   r3, #128\n\t"
    "lsls   r3, r3, #2\n\t"
    "mov    r11, r3\n\t"            /* 512 */
    "movs   r7, r0\n\t"
    "movs   r6, r2\n\t"
    "lsrs   r1, r1, #1\n\t"
    "bcs    3f\n"                    /* odd: the second row of the pair first */
    "1:\n\t"
    TRIX_ROW_T1("2", "5")
    "3:\n\t"
    TRIX_ROW_T1("4", "6")
    "cmp    r7, r10\n\t"
    "bne    1b\n\t"
    TRIX_POP_T1
    TRIX_CLAMP_T1("5", "2")
    TRIX_CLAMP_T1("6", "4")
    ".balign 4\n"
    "7:\n\t"
    ".word  0x000FFFFF\n\t"
    ".size trix_rows_t1, .-trix_rows_t1\n\t"

    /* r0 = g (c at r0 + 4H), r1 = h, r2 = lam, r3 = w_o, [sp] = H (>= 1) -> r0:r1 = sum w_o h */
    ".balign 4\n\t"
    ".global trix_units_t1\n\t"
    ".hidden trix_units_t1\n\t"
    ".type trix_units_t1, %function\n\t"
    ".thumb_func\n"
    "trix_units_t1:\n\t"
    TRIX_PUSH_T1
    "mov    r8, r2\n\t"             /* lam */
    "mov    r9, r3\n\t"             /* w_o */
    "ldr    r3, [sp, #36]\n\t"      /* H */
    "lsls   r2, r3, #1\n\t"
    "adds   r2, r1, r2\n\t"
    "mov    r11, r2\n\t"            /* end of h */
    "lsls   r2, r3, #2\n\t"
    "mov    r10, r2\n\t"            /* c - g = 4H */
    "movs   r2, #128\n\t"
    "lsls   r2, r2, #7\n\t"
    "mov    r12, r2\n\t"            /* 16384 */
    "movs   r7, r0\n\t"
    "movs   r6, r1\n\t"
    "movs   r4, #0\n\t"
    "movs   r5, #0\n\t"
    "lsrs   r3, r3, #1\n\t"
    "bcs    3f\n"                    /* odd */
    "1:\n\t"
    TRIX_UNIT_T1("2", "5")
    "3:\n\t"
    TRIX_UNIT_T1("4", "6")
    "cmp    r6, r11\n\t"
    "bne    1b\n\t"
    "movs   r0, r4\n\t"
    "movs   r1, r5\n\t"
    TRIX_POP_T1
    TRIX_SAT_T1("5", "2")
    TRIX_SAT_T1("6", "4")
    ".balign 4\n"
    "7:\n\t"
    ".word  0x00007FFF\n"
    "8:\n\t"
    ".word  0xFFFF8000\n\t"
    ".size trix_units_t1, .-trix_units_t1\n\t"
    ".syntax divided\n\t"
);
#undef TRIX_ROW_T1
#undef TRIX_CLAMP_T1
#undef TRIX_UNIT_T1
#undef TRIX_SAT_T1
#undef TRIX_PUSH_T1
#undef TRIX_POP_T1

void trix_activations_q15(int32_t *acc, int rows, const int32_t *requant, int pre_shift, const int16_t *table)
{
    if (rows > 0) trix_rows_t1(acc, rows, requant, pre_shift, table);
}

int64_t trix_update_state(const int32_t *acc, int hidden, int16_t *h, const int16_t *lam_q15, const int32_t *w_o)
{
    return hidden > 0 ? trix_units_t1(acc, h, lam_q15, w_o, hidden) : 0;
}

#else  /* portable C */

/* High word of the signed 64-bit product, exact. */
static inline int32_t mul_hi32(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b) >> 32);
}

void trix_activations_q15(int32_t *acc, int rows, const int32_t *requant, int pre_shift, const int16_t *table)
{
    int r;
    for (r = 0; r < rows; r++, requant += TRIX_ROW_REQUANT_WORDS) {
        const int32_t a = (int32_t)((uint32_t)acc[r] << pre_shift);   /* fits: codegen's bound */
        int32_t u = ((mul_hi32(a, requant[0]) >> requant[2]) + requant[1]) >> 1;
        int32_t i, f;
        u = u < 0 ? 0 : (u > TRIX_SPAN_MAX ? TRIX_SPAN_MAX : u);
        i = u >> TRIX_TABLE_STEP_SHIFT;
        f = u & ((1 << TRIX_TABLE_STEP_SHIFT) - 1);
        acc[r] = (((1 << TRIX_TABLE_STEP_SHIFT) - f) * table[i] + f * table[i + 1]
                  + (1 << (TRIX_TABLE_STEP_SHIFT - 1))) >> TRIX_TABLE_STEP_SHIFT;
    }
}

int64_t trix_update_state(const int32_t *acc, int hidden, int16_t *h, const int16_t *lam_q15, const int32_t *w_o)
{
    const int32_t *cand = acc + hidden;
    int64_t sum = 0;
    int i;
    for (i = 0; i < hidden; i++) {
        const int32_t g = acc[i], c = cand[i];
        const int32_t d = ((int32_t)lam_q15[i] * (32768 - g) + (1 << 14)) >> 15;   /* lam*(1-g), Q15 */
        const int32_t v = (d * h[i] + g * c + (1 << 14)) >> 15;                 /* Q30 -> Q15 */
        const int16_t hn = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
        h[i] = hn;
        sum += (int64_t)w_o[i] * hn;
    }
    return sum;
}

#endif
