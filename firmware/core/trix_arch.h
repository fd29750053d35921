/*
 * The one place that decides which ternary matvec kernels exist and which one the
 * runtime uses, from the compiler's predefines:
 *
 *   __aarch64__ && __ARM_NEON  -> TRIX_HAVE_NEON (AArch64 Advanced SIMD intrinsics)
 *   __ARM_FEATURE_DSP          -> TRIX_HAVE_DSP  (ARMv7E-M SIMD: Cortex-M4/M7/M33/M55 ...)
 *   __ARM_FEATURE_MVE (integer) -> TRIX_HAVE_MVE (Helium: Cortex-M55/M85; preferred over DSP)
 *   otherwise                  -> the portable reference only (e.g. Cortex-M3, x86)
 *
 * Every available kernel is compiled (so the tests can check each one against the golden
 * model); TRIX_MATVEC is the one trix_step() uses. Defining TRIX_FORCE_REF (CMake option
 * -DTRIX_FORCE_REF=ON) makes the reference the runtime kernel on any target.
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

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define TRIX_HAVE_MVE 1
#else
#define TRIX_HAVE_MVE 0
#endif

#if defined(TRIX_FORCE_REF)
#define TRIX_MATVEC      trix_matvec_ref
#define TRIX_KERNEL_NAME "ref"
#elif TRIX_HAVE_NEON
#define TRIX_MATVEC      trix_matvec_neon
#define TRIX_KERNEL_NAME "neon"
#elif TRIX_HAVE_MVE
#define TRIX_MATVEC      trix_matvec_mve
#define TRIX_KERNEL_NAME "mve"
#elif TRIX_HAVE_DSP
#define TRIX_MATVEC      trix_matvec_dsp
#define TRIX_KERNEL_NAME "dsp"
#else
#define TRIX_MATVEC      trix_matvec_ref
#define TRIX_KERNEL_NAME "ref"
#endif

#endif /* TRIX_ARCH_H */
