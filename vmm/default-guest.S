/* The bundled default guest (`vmm run` without --kernel): guest-tests/x86/hello.c. */
	.section .rodata
	.balign 4096
	.globl vmm_default_guest
vmm_default_guest:
	.incbin VMM_DEFAULT_GUEST
	.globl vmm_default_guest_end
vmm_default_guest_end:
	.section .note.GNU-stack, "", @progbits
