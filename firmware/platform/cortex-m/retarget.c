/*
 * newlib (nano) system calls for the test programs: stdout/stderr -> the board UART ("\n" -> "\r\n"),
 * stdin <- the board UART, a heap between the end of .bss and the stack for newlib's stdio buffers,
 * _exit -> trix_exit (the exit marker on the UART, then a reset). The firmware image trix_fw uses none of stdio/malloc; these
 * functions are linked only where a program references them (--gc-sections).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cortex_m.h"

int _write(int fd, const char *buf, int len);
int _read(int fd, char *buf, int len);
void *_sbrk(int incr);
int _close(int fd);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _lseek(int fd, int off, int whence);
int _kill(int pid, int sig);
int _getpid(void);
void _exit(int code);

int _write(int fd, const char *buf, int len)
{
    int i;
    if (fd != 1 && fd != 2) {
        errno = EBADF;
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (buf[i] == '\n') trix_uart_putc('\r');
        trix_uart_putc((uint8_t)buf[i]);
    }
    return len;
}

int _read(int fd, char *buf, int len)
{
    int c;
    if (fd != 0) {
        errno = EBADF;
        return -1;
    }
    if (len <= 0) return 0;
    while ((c = trix_uart_getc()) < 0) {
    }
    buf[0] = (char)c;
    return 1;
}

extern char _heap_start, _heap_end;   /* linker script */

void *_sbrk(int incr)
{
    static char *brk = &_heap_start;
    char *prev = brk;
    if (incr < 0 ? (brk + incr < &_heap_start) : (incr > &_heap_end - brk)) {
        errno = ENOMEM;
        return (void *)-1;
    }
    brk += incr;
    return prev;
}

int _close(int fd) { (void)fd; return -1; }
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _isatty(int fd) { (void)fd; return 1; }
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
int _getpid(void) { return 1; }
void _exit(int code) { trix_exit(code); }
