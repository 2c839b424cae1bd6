//! The TIS 1.3 / PTP FIFO register map: offsets, widths and bits.
//!
//! Sources: TCG PC Client Specific TPM Interface Specification (TIS) 1.3, "TPM Register
//! Space" and the register descriptions that follow it (TPM_ACCESS_x, TPM_INT_ENABLE_x,
//! TPM_INTF_CAPABILITY_x, TPM_STS_x, TPM_DATA_FIFO_x, TPM_DID_VID_x, TPM_RID_x); TCG PC
//! Client Platform TPM Profile (PTP) for TPM 2.0, FIFO interface registers
//! (TPM_STS_x bytes 3, TPM_INTERFACE_ID_x). Summarised in
//! specs/xen-vtpm-protocol.md §6.1.
//!
//! | offset | width | access | register |
//! |---|---|---|---|
//! | 0x000 | 8  | R/W  | TPM_ACCESS_x |
//! | 0x008 | 32 | R/W  | TPM_INT_ENABLE_x (unused: the driver polls) |
//! | 0x00C | 8  | R/W  | TPM_INT_VECTOR_x (unused) |
//! | 0x010 | 32 | R/W1C| TPM_INT_STATUS_x (unused) |
//! | 0x014 | 32 | R    | TPM_INTF_CAPABILITY_x |
//! | 0x018 | 32 | R/W  | TPM_STS_x (byte 0 status, bytes 1–2 burstCount, byte 3 PTP bits) |
//! | 0x024 | 8  | R/W  | TPM_DATA_FIFO_x (reads and writes have side effects) |
//! | 0x030 | 32 | R    | TPM_INTERFACE_ID_x (PTP only; reserved, often all-ones, on TIS 1.3) |
//! | 0xF00 | 32 | R    | TPM_DID_VID_x (vendor ID low 16 bits, device ID high 16) |
//! | 0xF04 | 8  | R    | TPM_RID_x |
//!
//! Locality *l* occupies the 4 KiB page at `l * LOCALITY_STRIDE` from the TIS base
//! (physical 0xFED40000 on a PC); offsets passed to [`Mmio`](crate::Mmio) are relative to
//! that base, so they lie in `0..LOCALITY_COUNT * LOCALITY_STRIDE`.

/// Physical address of the TIS register window on a PC (TIS 1.3 "TPM Locality Address
/// Definitions").
pub const TIS_BASE: u64 = 0xFED4_0000;
/// Distance between two locality pages.
pub const LOCALITY_STRIDE: usize = 0x1000;
/// Localities 0..=4.
pub const LOCALITY_COUNT: u8 = 5;
/// Size of the whole register window (five pages).
pub const WINDOW_SIZE: usize = LOCALITY_STRIDE * LOCALITY_COUNT as usize;

/// TPM_ACCESS_x (8 bits, read/write).
pub const ACCESS: usize = 0x000;
/// TPM_INT_ENABLE_x (32 bits).
pub const INT_ENABLE: usize = 0x008;
/// TPM_INT_VECTOR_x (8 bits).
pub const INT_VECTOR: usize = 0x00C;
/// TPM_INT_STATUS_x (32 bits, write 1 to clear).
pub const INT_STATUS: usize = 0x010;
/// TPM_INTF_CAPABILITY_x (32 bits, read-only).
pub const INTF_CAPABILITY: usize = 0x014;
/// TPM_STS_x (32 bits; byte 0 is the status byte, bytes 1–2 burstCount).
pub const STS: usize = 0x018;
/// TPM_DATA_FIFO_x (8 bits; every access moves the FIFO).
pub const DATA_FIFO: usize = 0x024;
/// TPM_INTERFACE_ID_x (32 bits, PTP only).
pub const INTERFACE_ID: usize = 0x030;
/// TPM_DID_VID_x (32 bits).
pub const DID_VID: usize = 0xF00;
/// TPM_RID_x (8 bits).
pub const RID: usize = 0xF04;

/// Bits of TPM_ACCESS_x.
pub mod access {
    /// tpmRegValidSts: the other bits are valid.
    pub const VALID: u8 = 0x80;
    /// activeLocality (read: this locality owns the TPM; write 1: relinquish).
    pub const ACTIVE_LOCALITY: u8 = 0x20;
    /// beenSeized (read: a higher locality took the TPM; write 1: clear).
    pub const BEEN_SEIZED: u8 = 0x10;
    /// Seize (write: take the TPM from a lower locality).
    pub const SEIZE: u8 = 0x08;
    /// pendingRequest: another locality is waiting for the TPM.
    pub const PENDING_REQUEST: u8 = 0x04;
    /// requestUse (read: this locality's request is pending; write 1: request).
    pub const REQUEST_USE: u8 = 0x02;
    /// tpmEstablishment (cleared by a dynamic launch).
    pub const ESTABLISHMENT: u8 = 0x01;
}

/// Bits of TPM_STS_x.
pub mod sts {
    /// stsValid: Expect and dataAvail are meaningful.
    pub const VALID: u8 = 0x80;
    /// commandReady (read: ready for a command; write 1: go to Ready / abort).
    pub const COMMAND_READY: u8 = 0x40;
    /// tpmGo (write 1: execute the command in the FIFO; reads as 0).
    pub const GO: u8 = 0x20;
    /// dataAvail: response bytes are waiting in the FIFO.
    pub const DATA_AVAIL: u8 = 0x10;
    /// Expect: the TPM expects more command bytes.
    pub const EXPECT: u8 = 0x08;
    /// selfTestDone (PTP).
    pub const SELF_TEST_DONE: u8 = 0x04;
    /// responseRetry (write 1: resend the response from its start; reads as 0).
    pub const RESPONSE_RETRY: u8 = 0x02;
    /// Shift of burstCount (bits 23:8 of the 32-bit register, little-endian).
    pub const BURST_COUNT_SHIFT: u32 = 8;
    /// commandCancel (PTP, bit 24; write 1 to ask the TPM to cancel the command).
    pub const COMMAND_CANCEL: u32 = 1 << 24;
    /// resetEstablishmentBit (PTP, bit 25).
    pub const RESET_ESTABLISHMENT: u32 = 1 << 25;
    /// Shift of tpmFamily (PTP, bits 27:26: 0b00 TPM 1.2, 0b01 TPM 2.0).
    pub const FAMILY_SHIFT: u32 = 26;
    /// tpmFamily value for TPM 2.0.
    pub const FAMILY_TPM20: u32 = 0b01;
}

/// Fields of TPM_INTF_CAPABILITY_x.
pub mod intf_capability {
    /// Shift of InterfaceVersion (bits 30:28).
    pub const VERSION_SHIFT: u32 = 28;
    /// InterfaceVersion: TIS 1.2 / 1.21.
    pub const VERSION_TIS12: u32 = 0b000;
    /// InterfaceVersion: TIS 1.3 (TPM 1.2).
    pub const VERSION_TIS13: u32 = 0b010;
    /// InterfaceVersion: TIS 1.3 for TPM 2.0 (the PTP FIFO interface).
    pub const VERSION_PTP_FIFO: u32 = 0b011;
    /// burstCountStatic.
    pub const BURST_COUNT_STATIC: u32 = 1 << 8;
}

/// Fields of TPM_INTERFACE_ID_x (PTP).
pub mod interface_id {
    /// Mask of InterfaceType (bits 3:0).
    pub const TYPE_MASK: u32 = 0xF;
    /// InterfaceType: FIFO interface, TPM 2.0.
    pub const TYPE_FIFO_TPM20: u32 = 0x0;
    /// InterfaceType: Command Response Buffer, TPM 2.0.
    pub const TYPE_CRB: u32 = 0x1;
    /// InterfaceType: TIS 1.3 FIFO (legacy, TPM 1.2; the register is reserved there).
    pub const TYPE_TIS13: u32 = 0xF;
}

/// Offset of register `reg` in the page of `locality`.
pub const fn at(locality: u8, reg: usize) -> usize {
    locality as usize * LOCALITY_STRIDE + reg
}
