/*
 * The one place that decides which ternary matvec kernels exist and which one the
 * runtime uses, from the compiler's predefines:
 *
 *   __aarch64__ && __ARM_NEON  -> TRIX_HAVE_NEON (AArch64 Advanced SIMD intrinsics)
 *   __ARM_FEATURE_DSP          -> TRIX_HAVE_DSP  (ARMv7E-M SIMD: Cortex-M4/M7/M33/M55 ...)
 *   __ARM_FEATURE_MVE (integer) -> TRIX_HAVE_MVE (Helium: Cortex-M55/M85; preferred over DSP)
 *   __thumb2__                 -> TRIX_HAVE_THUMB2 (Cortex-M3 and later: the table-lookup
 *                                 kernel's assembly loops; elsewhere it is portable C)
 *   otherwise                  -> the portable reference and the C table-lookup kernel (x86)
 *
 * Runtime kernel: neon on AArch64; on cores with the DSP extension (Cortex-M4, M55) the SMLAD
 * kernel for fewer than TRIX_LUT_MIN_ROWS rows and the table-lookup one from there on (the
 * crossover measured by `python -m host bench --qemu`, docs/performance.md; on the M55 the
 * lookup kernel also needs fewer instructions than the Helium one, which stays compiled and
 * tested); lut on other Thumb-2 cores (Cortex-M3) and on ARMv6-M (Cortex-M0/M0+, the nRF51:
 * the table lookup in Thumb-1, measured against ref by `python -m host bench --qemu --target
 * nrf51`); ref elsewhere.
 *
 * A model exported with `python -m codegen export --kernel code` brings its own kernel, its
 * weights compiled into adds and subtracts (trix_matvec_code.h; trix_model.h then defines
 * TRIX_MODEL_MATVEC_CODE, which trix_cfc.c sees before this header): on every target it is the
 * runtime kernel ("code"; on Cortex-M4 it needs 0.71 instructions per weight against lut's 1.37
 * at H = 32, for about 4 bytes of flash per non-zero weight instead of 2 bits per weight, and
 * fewer instructions than every packed kernel on every Cortex-M target and host measured,
 * docs/performance.md).
 *
 * int8 heads (docs/fixed_point.md, 2a) have their own kernel, TRIX_MATVEC_S8: s8_smlad on cores
 * with DSP, s8_neon on AArch64, the portable s8_c elsewhere (Cortex-M0, M3, hosts); the reference
 * s8_ref under TRIX_FORCE_REF.
 *
 * Every available kernel is compiled (so the tests can check each one against the golden
 * model); TRIX_MATVEC is the one trix_step() uses. Defining TRIX_FORCE_REF (CMake option
 * -DTRIX_FORCE_REF=ON), or a model exported with `python -m codegen export --kernel ref`
 * (trix_model.h defines TRIX_MODEL_MATVEC_REF), makes the reference the runtime kernel on any
 * target: it needs no lookup table, so the least RAM (the lut kernels' tables are not linked).
 */
#ifndef TRIX_ARCH_H
#define TRIX_ARCH_H

#if defined(__aarch64__) && defined(__ARM_NEON)
#define TRIX_HAVE_NEON 1
#else
#define TRIX_HAVE_NEON 0
#endif

#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)
#define TRIX_HAVE_DSP 1
#else
#define TRIX_HAVE_DSP 0
#endif

#if defined(__thumb2__)
#define TRIX_HAVE_THUMB2 1
#else
#define TRIX_HAVE_THUMB2 0
#endif

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define TRIX_HAVE_MVE 1
#else
#define TRIX_HAVE_MVE 0
#endif

#if defined(TRIX_FORCE_REF) || defined(TRIX_MODEL_MATVEC_REF)
#define TRIX_MATVEC      trix_matvec_ref
#define TRIX_KERNEL_NAME "ref"
#elif defined(TRIX_MODEL_MATVEC_CODE)
/* the model's own kernel, its weights compiled into code (trix_matvec_code.h) */
#define TRIX_USE_MATVEC_CODE 1
#define TRIX_MATVEC      trix_matvec_code
#define TRIX_KERNEL_NAME "code"
#elif TRIX_HAVE_NEON
#define TRIX_MATVEC      trix_matvec_neon
#define TRIX_KERNEL_NAME "neon"
#elif TRIX_HAVE_DSP
#define TRIX_MATVEC      trix_matvec_dsp_lut
#define TRIX_KERNEL_NAME "dsp/lut"
#elif TRIX_HAVE_THUMB2 || defined(__ARM_ARCH_6M__)
#define TRIX_MATVEC      trix_matvec_lut
#define TRIX_KERNEL_NAME "lut"
#else
#define TRIX_MATVEC      trix_matvec_ref
#define TRIX_KERNEL_NAME "ref"
#endif

/* the int8 heads' kernel */
#if defined(TRIX_FORCE_REF)
#define TRIX_MATVEC_S8      trix_matvec_s8_ref
#define TRIX_KERNEL_NAME_S8 "s8-ref"
#elif TRIX_HAVE_NEON
#define TRIX_MATVEC_S8      trix_matvec_s8_neon
#define TRIX_KERNEL_NAME_S8 "s8-neon"
#elif TRIX_HAVE_DSP
#define TRIX_MATVEC_S8      trix_matvec_s8_smlad
#define TRIX_KERNEL_NAME_S8 "s8-smlad"
#else
#define TRIX_MATVEC_S8      trix_matvec_s8_c
#define TRIX_KERNEL_NAME_S8 "s8-c"
#endif

#endif /* TRIX_ARCH_H */
