/*
 * Table-lookup ternary matvec (T-MAC style): portable C99, with the two hot loops in Thumb-2
 * assembly on Cortex-M3 and later, and the table build in Thumb-1 assembly on ARMv6-M
 * (Cortex-M0/M0+, whose row loop stays C).
 *
 * A packed byte holds the codes of 4 trits, so for each group of 4 inputs z[4g..4g+3] there
 * are only 81 distinct partial sums sum_k T_k z_k. The kernel computes them once per call
 * into a table indexed by the packed byte itself, and every row then costs, per byte, one
 * byte load, one table load and one add: 3 instructions per 4 weights, independent of the
 * trit values, instead of 4 multiply-accumulates. Building a table costs ~105 instructions
 * (81 entries; Thumb-2 below; `python -m host bench --qemu` times it), shared by all 2H rows,
 * so the kernel pays off as H grows: on Cortex-M4 it beats the SMLAD kernel from H = 16 on
 * (docs/performance.md). A table whose inputs z2 = z3 are both 0 (the padding past the last
 * input, or zero states) is cheaper to build: every high-nibble row equals row 0.
 *
 * Index layout: byte = c0 | c1 << 2 | c2 << 4 | c3 << 6 with codes 0 (0), 1 (+1), 2 (-1), so the
 * valid bytes are <= 0xAA = 170; entry [hi * 16 + lo] = P_hi + P_lo, where P_lo is the sum for
 * the low nibble (z0, z1) and P_hi for the high nibble (z2, z3). The 81 valid entries are
 * written (the Thumb-2 build also stores junk into some invalid slots). Code 0b11 is never
 * emitted (codegen rejects it); a byte holding it reads an entry that does not belong to that
 * pattern (memory-safe: the buffer has room for index 255 of the last table, and the kernel
 * tests only use valid codes).
 *
 * Scratch: TRIX_LUT_GROUPS tables of TRIX_LUT_STRIDE int32 (static, no heap); rows with more
 * bytes are processed in chunks of TRIX_LUT_GROUPS bytes, adding into acc.
 */
#include "trix_kernels.h"

#define TRIX_LUT_STRIDE 172   /* entries per group table: index <= 170, rounded up to 4 */

static int32_t trix_lut[TRIX_LUT_GROUPS * TRIX_LUT_STRIDE + (256 - TRIX_LUT_STRIDE)];

#define TRIX_S_(x) #x
#define TRIX_S(x) TRIX_S_(x)

#if TRIX_HAVE_THUMB2
/*
 * Thumb-2 (every Cortex-M from the M3 on): the same two loops in assembly, because the
 * instruction count is the point. GCC spends 2 instructions per table entry (one add, one
 * store); here a whole table row goes out with one STM, and the row loop keeps four
 * accumulators, the table base and the three row strides in registers.
 *
 * build: a table row (fixed high nibble) is words lo = 0..11 of 16, valid at lo = 0,1,2, 4,5,6,
 * 8,9,10, so it lives in r0-r11 with the invalid slots 3, 7, 11 in r3, r7, r11 and goes out as
 * STM {r0-r11} (the invalid slots get whatever r3, r7, r11 hold). Row 0 is the low-nibble sums;
 * each next row is the previous one plus a step, all 9 values at once. With a = z2, b = z3 the
 * row of high nibble hi adds i a + j b, (i, j) in {-1, 0, 1}^2, and the order
 * hi = 0, 5, 6, 8, 1, 2, 4, 9, 10 needs only three steps: a + b (r7), -2a (r3), a - 2b (r11)
 * (a path over the 3x3 grid found by search). So a row costs 9 adds, the STM and the jump to
 * the next row. When a = b = 0 (padding past the last input, or zero states) every row equals
 * row 0 and is stored as it is.
 */
void trix_lut_build_t2(int32_t *t, const int16_t *z, int groups);
/* For each of `blocks` blocks of 4 rows (block k starts at w + 4k rb): acc[4k..4k+3] (+)=
 * sum_b t_b[w_r[b]] over rows r of the block, t_b = t + b * STRIDE. */
void trix_lut_rows4_t2(const uint8_t *w, int rb, int nbytes, const int32_t *t, int32_t *acc, int add,
                       int blocks);

/* the next table row: r0-r2, r4-r6, r8-r10 += step; store words 0..11; skip `next` bytes */
#define TRIX_LUT_ROW_T2(step, next) \
    "add    r0, r0, " #step "\n\t" \
    "add    r1, r1, " #step "\n\t" \
    "add    r2, r2, " #step "\n\t" \
    "add    r4, r4, " #step "\n\t" \
    "add    r5, r5, " #step "\n\t" \
    "add    r6, r6, " #step "\n\t" \
    "add    r8, r8, " #step "\n\t" \
    "add    r9, r9, " #step "\n\t" \
    "add    r10, r10, " #step "\n\t" \
    "stmia  r12!, {r0-r11}\n\t" \
    next

__asm__(
    ".syntax unified\n\t"
    ".thumb\n\t"
    ".text\n\t"
    ".balign 4\n\t"
    ".global trix_lut_build_t2\n\t"
    ".hidden trix_lut_build_t2\n\t"
    ".type trix_lut_build_t2, %function\n\t"
    ".thumb_func\n"
    "trix_lut_build_t2:\n\t"
    "push   {r4-r11, lr}\n\t"
    "sub    sp, sp, #8\n\t"           /* [sp] = end of the tables */
    "mov    r12, r0\n\t"
    "mov    lr, r1\n\t"               /* z of the next group */
    "movw   r3, #" TRIX_S(TRIX_LUT_STRIDE * 4) "\n\t"
    "mla    r3, r2, r3, r0\n\t"
    "str    r3, [sp]\n"
    "1:\n\t"
    "ldrsh  r4, [lr, #2]\n\t"         /* z1 */
    "ldrsh  r3, [lr, #4]\n\t"         /* a = z2 */
    "ldrsh  r11, [lr, #6]\n\t"        /* b = z3 */
    "ldrsh  r1, [lr], #8\n\t"         /* z0 */
    "rsb    r2, r1, #0\n\t"           /* row 0, lo 2: -z0 */
    "add    r5, r4, r1\n\t"           /* lo 5: z0 + z1 */
    "sub    r6, r4, r1\n\t"           /* lo 6: z1 - z0 */
    "rsb    r8, r4, #0\n\t"           /* lo 8: -z1 */
    "sub    r9, r1, r4\n\t"           /* lo 9: z0 - z1 */
    "rsb    r10, r5, #0\n\t"          /* lo 10: -z0 - z1 */
    "movs   r0, #0\n\t"               /* lo 0 */
    "stmia  r12!, {r0-r11}\n\t"       /* row 0 */
    "orrs   r7, r3, r11\n\t"
    "beq    2f\n\t"
    "add    r7, r3, r11\n\t"          /* step a + b */
    "sub    r11, r3, r11, lsl #1\n\t" /* step a - 2b */
    "sub    r3, r0, r3, lsl #1\n\t"   /* step -2a */
    "add    r12, r12, #272\n\t"
    TRIX_LUT_ROW_T2(r7, "add    r12, r12, #16\n\t")    /* row 5: a + b */
    TRIX_LUT_ROW_T2(r3, "add    r12, r12, #80\n\t")    /* row 6: b - a */
    TRIX_LUT_ROW_T2(r11, "sub    r12, r12, #496\n\t")  /* row 8: -b */
    TRIX_LUT_ROW_T2(r7, "add    r12, r12, #16\n\t")    /* row 1: a */
    TRIX_LUT_ROW_T2(r3, "add    r12, r12, #80\n\t")    /* row 2: -a */
    TRIX_LUT_ROW_T2(r7, "add    r12, r12, #272\n\t")   /* row 4: b */
    TRIX_LUT_ROW_T2(r11, "add    r12, r12, #16\n\t")   /* row 9: a - b */
    TRIX_LUT_ROW_T2(r3, "")           /* row 10: -a - b; ends at 10 * 64 + 48 = 688 */
    "3:\n\t"
    "ldr    r0, [sp]\n\t"
    "cmp    r12, r0\n\t"
    "bne    1b\n\t"
    "add    sp, sp, #8\n\t"
    "pop    {r4-r11, pc}\n"
    "2:\n\t"                          /* a = b = 0: rows 1, 2, 4, 5, 6, 8, 9, 10 = row 0 */
    ".irp   skip, 16, 16, 80, 16, 16, 80, 16, 16\n\t"   /* to the start of the next row */
    "add    r12, r12, #\\skip\n\t"
    "stmia  r12!, {r0-r11}\n\t"
    ".endr\n\t"
    "b      3b\n\t"
    ".size trix_lut_build_t2, .-trix_lut_build_t2\n\t"

    /* r0 = w, r1 = rb, r2 = nbytes (1..TRIX_LUT_GROUPS), r3 = t, [sp] = acc, [sp, #4] = add,
     * [sp, #8] = blocks (>= 1). Registers: r6-r9 the four row sums, r4/r5 = 2 rb / 3 rb, r10 the
     * byte then its table entry, r11 = acc, r12 = blocks left, r2 = add, lr = entry.
     * Byte 0 of each row loads its entry straight into the row sum; the loop over the other
     * bytes is unrolled TRIX_LUT_GROUPS - 1 times with every instruction in its 32-bit encoding
     * (13 x 4 = 52 bytes per byte of the row), and each block jumps to nbytes - 1 groups before
     * the end: no loop counter, no compare per byte. */
#define TRIX_LUT_GROUP_T2 \
    "add.w  r3, r3, #" TRIX_S(TRIX_LUT_STRIDE * 4) "\n\t" \
    "ldrb.w r10, [r0, r1]\n\t" \
    "ldr.w  r10, [r3, r10, lsl #2]\n\t" \
    "add.w  r7, r7, r10\n\t" \
    "ldrb.w r10, [r0, r4]\n\t" \
    "ldr.w  r10, [r3, r10, lsl #2]\n\t" \
    "add.w  r8, r8, r10\n\t" \
    "ldrb.w r10, [r0, r5]\n\t" \
    "ldr.w  r10, [r3, r10, lsl #2]\n\t" \
    "add.w  r9, r9, r10\n\t" \
    "ldrb.w r10, [r0], #1\n\t" \
    "ldr.w  r10, [r3, r10, lsl #2]\n\t" \
    "add.w  r6, r6, r10\n\t"
    ".balign 4\n\t"
    ".global trix_lut_rows4_t2\n\t"
    ".hidden trix_lut_rows4_t2\n\t"
    ".type trix_lut_rows4_t2, %function\n\t"
    ".thumb_func\n"
    "trix_lut_rows4_t2:\n\t"
    "push   {r4-r11, lr}\n\t"
    "sub    sp, sp, #8\n\t"           /* [sp] = t, [sp, #4] = 4 rb - nbytes; the arguments at */
    "lsl    r4, r1, #2\n\t"           /* sp + 44 .. */
    "sub    r4, r4, r2\n\t"
    "strd   r3, r4, [sp]\n\t"
    "adr.w  r4, 9f\n\t"
    "subs   r2, r2, #1\n\t"
    "movs   r5, #52\n\t"
    "mls    lr, r2, r5, r4\n\t"       /* entry = end of the unrolled groups - (nbytes - 1) * 52 */
    "ldr    r11, [sp, #44]\n\t"
    "ldr    r2, [sp, #48]\n\t"
    "ldr    r12, [sp, #52]\n\t"
    "add    r4, r1, r1\n\t"           /* 2 rb */
    "add    r5, r4, r1\n"             /* 3 rb */
    "5:\n\t"
    "ldrb.w r10, [r0, r1]\n\t"        /* byte 0 of the four rows: the first entries */
    "ldr.w  r7, [r3, r10, lsl #2]\n\t"
    "ldrb.w r10, [r0, r4]\n\t"
    "ldr.w  r8, [r3, r10, lsl #2]\n\t"
    "ldrb.w r10, [r0, r5]\n\t"
    "ldr.w  r9, [r3, r10, lsl #2]\n\t"
    "ldrb.w r10, [r0], #1\n\t"
    "ldr.w  r6, [r3, r10, lsl #2]\n\t"
    "mov    pc, lr\n\t"               /* into the unrolled groups (bit 0 ignored: branch) */
    ".balign 4\n"
    "8:\n\t"
    ".rept " TRIX_S(TRIX_LUT_GROUPS) " - 1\n\t"
    TRIX_LUT_GROUP_T2
    ".endr\n"
    "9:\n\t"
    ".if (9b - 8b) - 52 * (" TRIX_S(TRIX_LUT_GROUPS) " - 1)\n\t"
    ".error \"trix_lut_rows4_t2: a group is not 52 bytes\"\n\t"
    ".endif\n\t"
    "cbz    r2, 4f\n\t"
    "ldr    r10, [r11]\n\t"
    "add    r6, r6, r10\n\t"
    "ldr    r10, [r11, #4]\n\t"
    "add    r7, r7, r10\n\t"
    "ldr    r10, [r11, #8]\n\t"
    "add    r8, r8, r10\n\t"
    "ldr    r10, [r11, #12]\n\t"
    "add    r9, r9, r10\n"
    "4:\n\t"
    "stmia  r11!, {r6, r7, r8, r9}\n\t"
    "ldrd   r3, r10, [sp]\n\t"
    "add    r0, r0, r10\n\t"          /* row 0 of the next block */
    "subs   r12, r12, #1\n\t"
    "bne    5b\n\t"
    "add    sp, sp, #8\n\t"
    "pop    {r4-r11, pc}\n\t"
    ".size trix_lut_rows4_t2, .-trix_lut_rows4_t2\n\t"
);
#undef TRIX_LUT_GROUP_T2

#define build_tables(t, z, n) trix_lut_build_t2((t), (z), (n))
#define TRIX_LUT_BLOCK 4
#define rows_blocks(w, rb, nb, add, acc, blocks) trix_lut_rows4_t2((w), (rb), (nb), trix_lut, (acc), (add), (blocks))

#else  /* portable C */

#if !TRIX_HAVE_THUMB2 && defined(__ARM_ARCH_6M__) && defined(__thumb__)
/*
 * ARMv6-M (Cortex-M0/M0+): the table build in Thumb-1 assembly; the row loop stays C. Only
 * r0-r7 can be stored, so a table is written row by row (fixed high nibble h) from four
 * low-nibble sums held in registers, the other four being their negatives:
 *   l1 = z0 (r1), l4 = z1 (r2), l5 = z0 + z1 (r3), l9 = z0 - z1 (r4)
 *   row h: h, h + l1, h - l1, h + l4, h + l5, h - l9, h - l4, h + l9, h - l5 (lo = 0,1,2,4,5,6,8,9,10)
 * 15 instructions per row (STM of lo = 0, 1, 2 from r5-r7, one STR per other entry, immediate
 * offsets), r0 walking the rows; h of each row from a = z2 (r8) and b = z3 (r9). The 3 + 4 + 4 invalid slots of a row
 * and rows 3, 7, 11-15 are not written.
 */
void trix_lut_build_t1(int32_t *t, const int16_t *z, int groups);

/* ARMv6-M has no PUSH of r8-r11: the callee-saved high registers go through r4-r7. */
#define TRIX_T1_SAVE \
    "push   {r4-r7, lr}\n\t" "mov    r4, r8\n\t" "mov    r5, r9\n\t" "mov    r6, r10\n\t" "mov    r7, r11\n\t" \
    "push   {r4-r7}\n\t"
#define TRIX_T1_RETURN \
    "pop    {r4-r7}\n\t" "mov    r8, r4\n\t" "mov    r9, r5\n\t" "mov    r10, r6\n\t" "mov    r11, r7\n\t" \
    "pop    {r4-r7, pc}\n\t"

#define TRIX_LUT_ROW_T1 \
    "adds   r6, r5, r1\n\t" \
    "subs   r7, r5, r1\n\t" \
    "stmia  r0!, {r5, r6, r7}\n\t"   /* lo 0, 1, 2; r0 is left at lo 3 */ \
    "adds   r6, r5, r2\n\t" "str r6, [r0, #4]\n\t" \
    "adds   r6, r5, r3\n\t" "str r6, [r0, #8]\n\t" \
    "subs   r6, r5, r4\n\t" "str r6, [r0, #12]\n\t" \
    "subs   r6, r5, r2\n\t" "str r6, [r0, #20]\n\t" \
    "adds   r6, r5, r4\n\t" "str r6, [r0, #24]\n\t" \
    "subs   r6, r5, r3\n\t" "str r6, [r0, #28]\n\t"

__asm__(
    ".syntax unified\n\t"
    ".thumb\n\t"
    ".text\n\t"
    ".balign 2\n\t"
    ".global trix_lut_build_t1\n\t"
    ".hidden trix_lut_build_t1\n\t"
    ".type trix_lut_build_t1, %function\n\t"
    ".thumb_func\n"
    "trix_lut_build_t1:\n\t"
    TRIX_T1_SAVE
    "movs   r7, #172\n\t"
    "lsls   r7, r7, #2\n\t"            /* 688 bytes per table */
    "muls   r7, r2\n\t"
    "adds   r7, r7, r0\n\t"
    "mov    r11, r7\n\t"               /* end of the tables */
    "mov    r10, r1\n"                 /* z of the next group */
    "1:\n\t"
    "mov    r6, r10\n\t"
    "ldrh   r1, [r6, #0]\n\t"
    "sxth   r1, r1\n\t"                /* l1 = z0 */
    "ldrh   r2, [r6, #2]\n\t"
    "sxth   r2, r2\n\t"                /* l4 = z1 */
    "ldrh   r7, [r6, #4]\n\t"
    "sxth   r7, r7\n\t"
    "mov    r8, r7\n\t"                /* a = z2 */
    "ldrh   r7, [r6, #6]\n\t"
    "sxth   r7, r7\n\t"
    "mov    r9, r7\n\t"                /* b = z3 */
    "adds   r6, r6, #8\n\t"
    "mov    r10, r6\n\t"
    "adds   r3, r1, r2\n\t"            /* l5 = z0 + z1 */
    "subs   r4, r1, r2\n\t"            /* l9 = z0 - z1 */
    "movs   r5, #0\n\t"                /* row 0: h = 0 */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #52\n\t"
    "mov    r5, r8\n\t"                /* row 1: a */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #52\n\t"
    "rsbs   r5, r5, #0\n\t"            /* row 2: -a */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #116\n\t"
    "mov    r5, r9\n\t"                /* row 4: b */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #52\n\t"
    "add    r5, r8\n\t"                /* row 5: a + b */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #52\n\t"
    "mov    r5, r9\n\t"
    "mov    r7, r8\n\t"
    "subs   r5, r5, r7\n\t"            /* row 6: b - a */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #116\n\t"
    "mov    r5, r9\n\t"
    "rsbs   r5, r5, #0\n\t"            /* row 8: -b */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #52\n\t"
    "add    r5, r8\n\t"                /* row 9: a - b */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #52\n\t"
    "mov    r5, r8\n\t"
    "add    r5, r9\n\t"
    "rsbs   r5, r5, #0\n\t"            /* row 10: -a - b */
    TRIX_LUT_ROW_T1
    "adds   r0, r0, #36\n\t"           /* 640 + 12 + 36 = 688: the next table */
    "mov    r7, r11\n\t"
    "cmp    r0, r7\n\t"
    "beq    2f\n\t"
    "b      1b\n"
    "2:\n\t"
    TRIX_T1_RETURN
    ".size trix_lut_build_t1, .-trix_lut_build_t1\n\t"
    ".syntax divided\n\t"
);
#undef TRIX_LUT_ROW_T1
#define build_tables(t, z, n) trix_lut_build_t1((t), (z), (n))

/*
 * The row loop in Thumb-1 too (GCC needs 6.3 instructions per byte and row): three rows per block
 * (r0, r1, r3 point at them; r5-r7 are their sums; r4 the one temporary: all eight low registers),
 * per byte and row LDRB (immediate offset) + LSLS + LDR + ADDS, and one ADD per byte for the next
 * table: 13 per 3 bytes, 4.33 per byte and row. The bytes are unrolled TRIX_LUT_GROUPS times from
 * the last to the first (immediate offsets; the table pointer walks down by 688 from the last
 * table); each block loads byte nbytes - 1's entries straight into the sums and jumps into them
 * at byte nbytes - 2.
 * r0 = w, r1 = rb, r2 = nbytes (1..TRIX_LUT_GROUPS), r3 = t; [sp] = acc, [sp + 4] = add,
 * [sp + 8] = blocks (>= 1): acc[3k..3k+2] (+)= the sums of rows w + 3k rb + {0, rb, 2 rb}.
 */
void trix_lut_rows3_t1(const uint8_t *w, int rb, int nbytes, const int32_t *t, int32_t *acc, int add, int blocks);

__asm__(
    ".syntax unified\n\t"
    ".thumb\n\t"
    ".text\n\t"
    ".balign 4\n\t"
    ".global trix_lut_rows3_t1\n\t"
    ".hidden trix_lut_rows3_t1\n\t"
    ".type trix_lut_rows3_t1, %function\n\t"
    ".thumb_func\n"
    "trix_lut_rows3_t1:\n\t"
    ".if " TRIX_S(TRIX_LUT_GROUPS) " > 32\n\t"
    ".error \"trix_lut_rows3_t1: LDRB offsets reach 31 only (TRIX_LUT_GROUPS <= 32 on ARMv6-M)\"\n\t"
    ".endif\n\t"
    TRIX_T1_SAVE
    "sub    sp, #12\n\t"                /* [sp] = entry, [sp + 4] = add, [sp + 8] = nbytes - 1 */
    "ldr    r4, [sp, #52]\n\t"          /* the arguments at sp + 48 */
    "str    r4, [sp, #4]\n\t"
    "ldr    r4, [sp, #48]\n\t"
    "mov    r10, r4\n\t"                /* acc */
    "ldr    r4, 7f\n\t"
    "mov    r8, r4\n\t"                 /* -688: the previous table */
    "subs   r5, r2, #1\n\t"
    "str    r5, [sp, #8]\n\t"
    "movs   r4, #172\n\t"
    "lsls   r4, r4, #2\n\t"
    "muls   r4, r5\n\t"
    "adds   r4, r4, r3\n\t"
    "mov    r9, r4\n\t"                 /* the table of byte nbytes - 1 */
    "adr    r4, 8f\n\t"
    "movs   r5, #" TRIX_S(TRIX_LUT_GROUPS) " + 1\n\t"
    "subs   r5, r5, r2\n\t"
    "movs   r6, #26\n\t"
    "muls   r5, r6\n\t"
    "adds   r4, r4, r5\n\t"
    "str    r4, [sp]\n\t"               /* entry: the group of byte nbytes - 2 */
    "lsls   r4, r1, #1\n\t"
    "adds   r4, r4, r1\n\t"
    "mov    r11, r4\n\t"                /* 3 rb */
    "ldr    r5, [sp, #56]\n\t"
    "muls   r5, r4\n\t"
    "adds   r5, r5, r0\n\t"
    "mov    r12, r5\n\t"                /* w of the block after the last */
    "adds   r3, r0, r1\n\t"
    "adds   r3, r3, r1\n\t"             /* row C */
    "adds   r1, r0, r1\n\t"              /* row B */
    "b      4f\n\t"                     /* the loop's head is after the groups (branch range) */
    ".balign 4\n"
    "8:\n\t"
    ".set   trix_lut_b, " TRIX_S(TRIX_LUT_GROUPS) " - 1\n\t"
    ".rept  " TRIX_S(TRIX_LUT_GROUPS) "\n\t"
    "ldrb   r4, [r0, #trix_lut_b]\n\t"
    "lsls   r4, r4, #2\n\t"
    "ldr    r4, [r2, r4]\n\t"
    "adds   r5, r5, r4\n\t"
    "ldrb   r4, [r1, #trix_lut_b]\n\t"
    "lsls   r4, r4, #2\n\t"
    "ldr    r4, [r2, r4]\n\t"
    "adds   r6, r6, r4\n\t"
    "ldrb   r4, [r3, #trix_lut_b]\n\t"
    "lsls   r4, r4, #2\n\t"
    "ldr    r4, [r2, r4]\n\t"
    "adds   r7, r7, r4\n\t"
    "add    r2, r8\n\t"
    ".set   trix_lut_b, trix_lut_b - 1\n\t"
    ".endr\n"
    "9:\n\t"
    ".if (9b - 8b) - 26 * " TRIX_S(TRIX_LUT_GROUPS) "\n\t"
    ".error \"trix_lut_rows3_t1: a group is not 26 bytes\"\n\t"
    ".endif\n\t"
    "ldr    r4, [sp, #4]\n\t"
    "cmp    r4, #0\n\t"
    "mov    r4, r10\n\t"
    "beq    6f\n\t"
    "ldr    r2, [r4]\n\t"
    "adds   r5, r5, r2\n\t"
    "ldr    r2, [r4, #4]\n\t"
    "adds   r6, r6, r2\n\t"
    "ldr    r2, [r4, #8]\n\t"
    "adds   r7, r7, r2\n"
    "6:\n\t"
    "stm    r4!, {r5, r6, r7}\n\t"
    "mov    r10, r4\n\t"
    "add    r0, r11\n\t"
    "add    r1, r11\n\t"
    "add    r3, r11\n"
    "4:\n\t"
    "cmp    r0, r12\n\t"
    "beq    3f\n\t"
    "mov    r2, r9\n\t"                 /* byte nbytes - 1 (register offset) starts the sums */
    "ldr    r5, [sp, #8]\n\t"
    "ldrb   r4, [r1, r5]\n\t"
    "lsls   r4, r4, #2\n\t"
    "ldr    r6, [r2, r4]\n\t"
    "ldrb   r4, [r3, r5]\n\t"
    "lsls   r4, r4, #2\n\t"
    "ldr    r7, [r2, r4]\n\t"
    "ldrb   r4, [r0, r5]\n\t"
    "lsls   r4, r4, #2\n\t"
    "ldr    r5, [r2, r4]\n\t"
    "add    r2, r8\n\t"
    "ldr    r4, [sp]\n\t"
    "mov    pc, r4\n"                    /* into the groups at byte nbytes - 2 */
    "3:\n\t"
    "add    sp, #12\n\t"
    TRIX_T1_RETURN
    ".balign 4\n"
    "7:\n\t"
    ".word  -688\n\t"
    ".size trix_lut_rows3_t1, .-trix_lut_rows3_t1\n\t"
    ".syntax divided\n\t"
);
#define TRIX_LUT_BLOCK 3
#define rows_blocks(w, rb, nb, add, acc, blocks) trix_lut_rows3_t1((w), (rb), (nb), trix_lut, (acc), (add), (blocks))
#else
/* The 9 valid nibbles (two trits) in index order and their sum for the pair (a, b). */
#define TRIX_NIBBLE_SUMS(s, a, b) \
    s##0 = 0, s##1 = (a), s##2 = -(a), s##4 = (b), s##5 = (a) + (b), s##6 = (b) - (a), \
    s##8 = -(b), s##9 = (a) - (b), s##10 = -(a) - (b)

/* One row of the table (fixed high nibble hv): entries lo = 0,1,2, 4,5,6, 8,9,10. */
#define TRIX_LUT_ROW(t, hv) do { \
        int32_t *row_ = (t); const int32_t h_ = (hv); \
        row_[0] = h_;      row_[1] = h_ + l1; row_[2] = h_ + l2; \
        row_[4] = h_ + l4; row_[5] = h_ + l5; row_[6] = h_ + l6; \
        row_[8] = h_ + l8; row_[9] = h_ + l9; row_[10] = h_ + l10; \
    } while (0)

static void build_table(int32_t *t, const int16_t *z)
{
    const int32_t z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3];
    int32_t TRIX_NIBBLE_SUMS(l, z0, z1);
    int32_t TRIX_NIBBLE_SUMS(h, z2, z3);
    (void)l0;
    (void)h0;
    TRIX_LUT_ROW(t + 0 * 16, 0);
    TRIX_LUT_ROW(t + 1 * 16, h1);
    TRIX_LUT_ROW(t + 2 * 16, h2);
    TRIX_LUT_ROW(t + 4 * 16, h4);
    TRIX_LUT_ROW(t + 5 * 16, h5);
    TRIX_LUT_ROW(t + 6 * 16, h6);
    TRIX_LUT_ROW(t + 8 * 16, h8);
    TRIX_LUT_ROW(t + 9 * 16, h9);
    TRIX_LUT_ROW(t + 10 * 16, h10);
}

static void build_tables(int32_t *t, const int16_t *z, int n)
{
    int g;
    for (g = 0; g < n; g++) build_table(t + g * TRIX_LUT_STRIDE, z + 4 * g);
}

#endif  /* ARMv6-M */

#ifndef TRIX_LUT_BLOCK
/* acc[0..3] (+)= sum over bytes b of the table lookups of rows w, w+rb, w+2rb, w+3rb. */
static void rows4_block(const uint8_t *w, int rb, int nbytes, int add, int32_t *acc)
{
    const uint8_t *w1 = w + rb, *w2 = w + 2 * rb, *w3 = w + 3 * rb;
    const int32_t *t = trix_lut;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int b;
    for (b = 0; b < nbytes; b++, t += TRIX_LUT_STRIDE) {
        a0 += t[w[b]];
        a1 += t[w1[b]];
        a2 += t[w2[b]];
        a3 += t[w3[b]];
    }
    if (add) {
        acc[0] += a0; acc[1] += a1; acc[2] += a2; acc[3] += a3;
    } else {
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    }
}

static void rows_blocks(const uint8_t *w, int rb, int nbytes, int add, int32_t *acc, int blocks)
{
    int k;
    for (k = 0; k < blocks; k++) rows4_block(w + 4L * k * rb, rb, nbytes, add, acc + 4 * k);
}
#define TRIX_LUT_BLOCK 4
#endif

#endif

static void row1(const uint8_t *w, int nbytes, int add, int32_t *acc)
{
    const int32_t *t = trix_lut;
    int32_t a = 0;
    int b;
    for (b = 0; b < nbytes; b++, t += TRIX_LUT_STRIDE) a += t[w[b]];
    *acc = add ? *acc + a : a;
}

void trix_matvec_lut(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    int b0, r;
    if (row_bytes < 1) {
        for (r = 0; r < rows; r++) acc[r] = 0;
        return;
    }
    for (b0 = 0; b0 < row_bytes; b0 += TRIX_LUT_GROUPS) {
        const int nb = row_bytes - b0 < TRIX_LUT_GROUPS ? row_bytes - b0 : TRIX_LUT_GROUPS;
        const uint8_t *w = trits + b0;
        build_tables(trix_lut, z + 4 * b0, nb);
        if (rows >= TRIX_LUT_BLOCK) rows_blocks(w, row_bytes, nb, b0 > 0, acc, rows / TRIX_LUT_BLOCK);
        for (r = rows - rows % TRIX_LUT_BLOCK, w += (long)r * row_bytes; r < rows; r++, w += row_bytes)
            row1(w, nb, b0 > 0, acc + r);
    }
}

#if TRIX_HAVE_DSP
void trix_matvec_dsp_lut(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
#if TRIX_LUT_MIN_ROWS > 0   /* 0: SMLAD only, and the table scratch is not linked into trix_fw */
    if (rows >= TRIX_LUT_MIN_ROWS) {
        trix_matvec_lut(trits, rows, row_bytes, z, acc);
        return;
    }
#endif
    trix_matvec_dsp(trits, rows, row_bytes, z, acc);
}
#endif
