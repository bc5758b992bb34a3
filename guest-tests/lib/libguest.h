/* SPDX-License-Identifier: MIT */
#ifndef GUEST_LIBGUEST_H
#define GUEST_LIBGUEST_H

/*
 * The freestanding test-guest library (kvm-unit-tests spirit). lib/entry.S and lib/setup.c
 * bring the CPU to long mode with identity paging, GDT/IDT/TSS, and then call main() in
 * ring 3 with IOPL=3, an all-open TSS I/O bitmap and interrupts enabled: `in`/`out`, MMIO
 * (LAPIC, IOAPIC), rdtsc and cpuid work from main(); MSRs go through a ring-0 service
 * (sys_rdmsr/sys_wrmsr).
 * Ring-0 code is emulated on our hosts (about 1 us per instruction), so it stays tiny:
 * interrupt handlers registered with handle_irq() run in ring 0 and must be short.
 *
 * Everything RAM-like is identity mapped with user access: all RAM the boot map reports,
 * the 3..4 GiB hole, and one more GiB above the top of RAM.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/guest-abi.h"

#define __noreturn	__attribute__((noreturn))
#define __gprintf(a, b)	__attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define KiB(x)		((uint64_t)(x) << 10)
#define MiB(x)		((uint64_t)(x) << 20)
#define GiB(x)		((uint64_t)(x) << 30)

/* Exit statuses the library itself uses (the test's own are 0 = pass, 1 = failures). */
#define EXIT_UNHANDLED_EXCEPTION	126
#define EXIT_BAD_BOOT			125

/* ---- port I/O, serial, exit (io.c) ---- */
static inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

void serial_putc(char c);
void puts(const char *s);			/* no newline added */
int printf(const char *fmt, ...) __gprintf(1, 2);
int vprintf(const char *fmt, va_list ap);
/* %d %i %u %x %lx %ld %lu %llx %s %c %p %%, with optional width and '0' flag. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __gprintf(3, 4);
/* Writes `code` to the exit device (port 0xf4, 4 bytes); halts if nobody listens. */
void exit(int code) __noreturn;

/* ---- tiny libc (string.c) ---- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Parses a decimal or 0x number with an optional K/M/G suffix; false on garbage or overflow. */
bool parse_size(const char *s, size_t len, uint64_t *out);

/* ---- boot information (boot.c), copied out of guest memory before main() ---- */
struct mem_range {
	uint64_t addr, len;
	uint32_t type;			/* 1 = RAM, like e820 / multiboot mmap */
};
#define MEM_RAM		1
#define BOOT_MAX_RANGES	64
#define BOOT_CMDLINE_MAX 1024

enum boot_kind { BOOT_MULTIBOOT = 1, BOOT_LINUX = 2 };
struct boot_info {
	enum boot_kind kind;
	uint32_t nr_ranges;
	struct mem_range ranges[BOOT_MAX_RANGES];
	char cmdline[BOOT_CMDLINE_MAX];
	uint64_t ram_top;		/* end of the highest RAM range */
	uint64_t ram_total;		/* bytes of RAM ranges */
	uint64_t raw;			/* multiboot_info / boot_params address as given */
};
const struct boot_info *boot_info(void);
/*
 * Finds "key=value" as a whole word on the command line and points *val / *len at the value
 * (not NUL-terminated). QEMU prefixes the multiboot command line with the kernel's file name,
 * which never looks like key=value, so both VMMs give the same answers.
 */
bool cmdline_get(const char *key, const char **val, size_t *len);
bool cmdline_get_size(const char *key, uint64_t *out);

/* Image bounds from the linker script. */
extern char __image_start[], __image_end[];

/* ---- CPU helpers (user.c) ---- */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline void cpu_relax(void) { asm volatile("pause" ::: "memory"); }
static inline void barrier(void) { asm volatile("" ::: "memory"); }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint64_t mmio_read64(uint64_t a) { return *(volatile uint64_t *)a; }
static inline void mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t *)a = v; }

/* TSC frequency from CPUID 0x15 / 0x16 / 0x40000010, else a guess of 2 GHz; for timeouts. */
uint64_t tsc_khz(void);
/* Spins in ring 3 for at least `us` microseconds (by the TSC estimate above). */
void udelay(uint64_t us);
/*
 * Ring-0 services for ring 3: MSR access. They work by a self-IPI to SERVICE_VECTOR whose
 * handler runs in ring 0, because on the PVM host `int n` from ring 3 raises #UD and
 * `syscall` does not leave ring 3. Needs the LAPIC software-enabled (lapic_enable()).
 */
#define SERVICE_VECTOR	0x30
uint64_t sys_rdmsr(uint32_t msr);
void sys_wrmsr(uint32_t msr, uint64_t val);
int cpu_ring(void);			/* CPL from CS: 3 in main() */

/* ---- interrupts (irq.c, entry.S) ---- */
struct irq_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};
typedef void (*irq_handler_t)(struct irq_frame *f);
/*
 * Installs fn for `vector` (32..255, or an exception 0..31 to catch it). fn runs in ring 0
 * with interrupts off; for vectors >= 32 but 0xff the stub sends the LAPIC EOI after fn.
 * Returns false for a vector that cannot be used.
 */
bool handle_irq(unsigned int vector, irq_handler_t fn);
/*
 * Installs a raw IDT entry for vector 32..254 (not SERVICE_VECTOR): no register save, no
 * dispatch, no EOI; `entry` (assembly) does all of it and ends with iretq. For handlers whose
 * ring-0 instruction count is the measurement (x86/latency-*.c). False for a bad vector.
 */
bool irq_set_raw_entry(unsigned int vector, void (*entry)(void));

/* ---- local APIC, xAPIC MMIO (lapic.c) ---- */
#define APIC_BASE	0xfee00000ull
#define APIC_ID		0x20
#define APIC_VERSION	0x30
#define APIC_EOI	0xb0
#define APIC_SVR	0xf0
#define APIC_ICR_LO	0x300
#define APIC_ICR_HI	0x310
#define APIC_LVT_TIMER	0x320
#define APIC_TMICT	0x380
#define APIC_TMCCT	0x390
#define APIC_TDCR	0x3e0
#define APIC_LVT_MASKED		(1u << 16)
#define APIC_TIMER_PERIODIC	(1u << 17)
#define APIC_TIMER_TSCDEADLINE	(2u << 17)
#define MSR_TSC_DEADLINE	0x6e0

static inline uint32_t lapic_read(uint32_t reg) { return mmio_read32(APIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(APIC_BASE + reg, v); }
uint32_t lapic_id(void);
void lapic_enable(void);		/* software-enable via SVR, spurious vector 0xff */
void lapic_eoi(void);
/* Sends INIT (level assert), then two STARTUP IPIs with vector `page` (address page >> 12). */
void lapic_init_sipi_sipi(uint32_t apic_id, uint8_t page);
bool lapic_icr_idle(uint64_t timeout_us);

/* ---- I/O APIC, the PC's at 0xfec00000 (ioapic.c); every access exits: setup only ---- */
#define IOAPIC_BASE	0xfec00000ull
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t v);
unsigned int ioapic_pins(void);		/* redirection entries; 0 without an IOAPIC */
/*
 * Routes `pin` to `vector` (32..254) on the local APIC apic_id: fixed, physical, edge, active
 * high, unmasked. False for a pin the IOAPIC does not have, a bad vector or id, or an entry
 * that did not read back as written.
 */
bool ioapic_route(unsigned int pin, unsigned int vector, uint32_t apic_id);
void ioapic_mask(unsigned int pin);

/* ---- ACPI (acpi.c) ---- */
#define ACPI_MAX_CPUS	64
struct acpi_cpus {
	unsigned int nr;
	uint32_t apic_id[ACPI_MAX_CPUS];
};
/* Scans 0xe0000..0xfffff for the RSDP (16-byte aligned, checksummed), walks XSDT or RSDT to
 * the MADT and collects enabled local APIC / x2APIC entries. False if any table is missing
 * or has a bad checksum or length. */
bool acpi_find_cpus(struct acpi_cpus *out);
const void *acpi_find_table(const char sig[4]);

/* ---- SMP (smp.c, trampoline.S) ---- */
#define SMP_TRAMPOLINE	0x8000ull
struct ap_checkin {
	volatile uint32_t started;		/* lock xadd: slot index */
	volatile uint32_t done;			/* lock incl after the slot is written */
	volatile uint32_t apic_id[ACPI_MAX_CPUS];
};
extern struct ap_checkin ap_checkin;
/* Copies the real-mode trampoline to SMP_TRAMPOLINE. APs started with
 * lapic_init_sipi_sipi(id, SMP_TRAMPOLINE >> 12) go to long mode on the BSP's page tables,
 * check in to ap_checkin and halt with interrupts off. */
void smp_install_trampoline(void);

int main(void);

#endif
