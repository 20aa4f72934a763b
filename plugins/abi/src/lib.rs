//! The frozen C ABI between the repo2agent host and its dynamically loaded plugins.
//!
//! This crate owns the boundary and nothing else: one `#[repr(C)]` entry table
//! ([`PluginEntry`]), the two buffer types that cross it, the status codes, and the
//! [`declare_plugin!`] macro that a plugin crate (`crate-type = ["cdylib"]`) uses to
//! export the table. It has no dependencies so that host and plugins cannot drift
//! apart through a dependency update.
//!
//! Rules of the boundary:
//! - The library exports one symbol, [`ENTRY_SYMBOL`], a function returning a pointer
//!   to a `'static` [`PluginEntry`]. Its first field is the ABI version; the host reads
//!   it before anything else and refuses the library on a mismatch.
//! - Nothing async and no Rust trait objects cross the boundary. Structured data
//!   crosses as UTF-8 JSON ([`RStr`] in, [`RBuf`] out); per-token data crosses as plain
//!   slices (`u8` roles in, `f32` weights out, in a buffer the host owns).
//! - Whoever allocates frees: an [`RBuf`] made by the plugin goes back to the
//!   plugin's `free_buf`; an [`RStr`] is only borrowed for the duration of the call.
//! - A panic never unwinds across the boundary: the macro catches it and returns
//!   [`STATUS_PANIC`] with the panic message.
//!
//! What the JSON means (the manifest, the per-kind methods) is documented in the
//! host crate, `repo2agent-core`, module `dylib`.
#![no_std]
extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;

/// Version of this ABI. Bumped on any change to the layout of [`PluginEntry`],
/// [`RStr`], [`RBuf`] or the meaning of the status codes.
pub const ABI_VERSION: u32 = 1;

/// Name of the one symbol a plugin library exports.
pub const ENTRY_SYMBOL: &str = "repo2agent_plugin_entry";

/// The call succeeded; the output buffer holds the result.
pub const STATUS_OK: i32 = 0;
/// The call failed; the output buffer holds a UTF-8 error message.
pub const STATUS_ERROR: i32 = 1;
/// The plugin panicked; the output buffer holds the panic message.
pub const STATUS_PANIC: i32 = 2;

/// A borrowed UTF-8 (or byte) string, valid only for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RStr {
    /// Start of the bytes (may be dangling when `len == 0`).
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl RStr {
    /// Borrow a Rust string.
    pub fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            &[]
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// An owned byte buffer allocated by the plugin; the host returns it to the
/// plugin's `free_buf`, never to its own allocator.
#[repr(C)]
#[derive(Debug)]
pub struct RBuf {
    /// Start of the allocation (null for an empty buffer).
    pub ptr: *mut u8,
    /// Bytes in use.
    pub len: usize,
    /// Bytes allocated.
    pub cap: usize,
}

impl RBuf {
    /// An empty buffer that owns nothing.
    pub const EMPTY: RBuf = RBuf {
        ptr: core::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Give up a `Vec`'s allocation to the other side.
    pub fn from_vec(v: Vec<u8>) -> Self {
        let mut v = core::mem::ManuallyDrop::new(v);
        RBuf {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Take the allocation back (plugin side only: the allocator must be the one
    /// that made it).
    ///
    /// # Safety
    /// `self` must come from [`RBuf::from_vec`] in the same library.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
        }
    }

    /// View the bytes without taking ownership.
    ///
    /// # Safety
    /// The buffer must be live (not yet freed).
    pub unsafe fn as_bytes(&self) -> &[u8] {
        if self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// The entry table a plugin library exports through [`ENTRY_SYMBOL`].
///
/// Layout is frozen for a given [`ABI_VERSION`]; `abi_version` is always first.
#[repr(C)]
#[derive(Debug)]
pub struct PluginEntry {
    /// Must equal the host's [`ABI_VERSION`]; read before any other field.
    pub abi_version: u32,
    /// Returns the plugin's manifest as JSON.
    pub manifest: unsafe extern "C" fn() -> RBuf,
    /// Builds one component. `kind` and `type_name` pick the factory,
    /// `config_json` is its configuration. On success writes an opaque instance
    /// pointer to `instance`; on failure writes a message to `out`.
    pub create: unsafe extern "C" fn(
        kind: RStr,
        type_name: RStr,
        config_json: RStr,
        instance: *mut *mut c_void,
        out: *mut RBuf,
    ) -> i32,
    /// Calls a JSON method on an instance; the result (or error) goes to `out`.
    pub call: unsafe extern "C" fn(instance: *mut c_void, method: RStr, input: RStr, out: *mut RBuf) -> i32,
    /// Masker fast path: one `u8` role id per token in, one `f32` weight per token
    /// written into the host's `weights` (same length). Errors go to `out`.
    pub mask: unsafe extern "C" fn(
        instance: *mut c_void,
        roles: *const u8,
        len: usize,
        weights: *mut f32,
        out: *mut RBuf,
    ) -> i32,
    /// Drops an instance made by `create`.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// Frees a buffer the plugin allocated.
    pub free_buf: unsafe extern "C" fn(buf: RBuf),
}

/// The signature of [`ENTRY_SYMBOL`].
pub type EntryFn = unsafe extern "C" fn() -> *const PluginEntry;

/// What a plugin implements for each component it builds (plugin side only; no
/// trait object ever crosses the boundary, the macro wraps it in an opaque pointer).
pub trait Component: Send + Sync {
    /// A JSON method call (`analyze`, `describe`, `score`, `format`, …).
    fn call(&self, method: &str, input: &str) -> Result<String, String>;

    /// Per-token loss weights for a masker; other kinds keep the default.
    fn mask(&self, roles: &[u8], weights: &mut [f32]) -> Result<(), String> {
        let _ = (roles, weights);
        Err(String::from("this component is not a masker"))
    }
}

/// A plugin's factory: `(kind, type_name, config_json)` to a component.
pub type Factory = fn(&str, &str, &str) -> Result<Box<dyn Component>, String>;

/// Exports the entry table of a plugin library.
///
/// ```no_run
/// use repo2agent_plugin_abi::{Component, declare_plugin};
///
/// const MANIFEST_JSON: &str =
///     r#"{"name": "demo", "components": [{"kind": "masker", "type": "ones"}]}"#;
///
/// struct Ones;
///
/// impl Component for Ones {
///     fn call(&self, method: &str, _input: &str) -> Result<String, String> {
///         Err(format!("no method `{method}`"))
///     }
///     fn mask(&self, _roles: &[u8], weights: &mut [f32]) -> Result<(), String> {
///         weights.fill(1.0);
///         Ok(())
///     }
/// }
///
/// fn build(_kind: &str, _type_name: &str, _config: &str) -> Result<Box<dyn Component>, String> {
///     Ok(Box::new(Ones))
/// }
///
/// declare_plugin!(manifest = MANIFEST_JSON, factory = build);
/// # fn main() {}
/// ```
/// `MANIFEST_JSON` is a `&'static str`; `build` is a [`Factory`]. Every call into
/// the plugin runs under `catch_unwind`, so a panic becomes [`STATUS_PANIC`].
#[macro_export]
macro_rules! declare_plugin {
    (manifest = $manifest:expr, factory = $factory:path $(,)?) => {
        mod __repo2agent_plugin {
            use super::*;
            use ::std::boxed::Box;
            use ::std::ffi::c_void;
            use ::std::string::{String, ToString};
            use $crate::{Component, PluginEntry, RBuf, RStr, STATUS_ERROR, STATUS_OK, STATUS_PANIC};

            type Instance = Box<dyn Component>;

            fn panic_message(payload: Box<dyn ::std::any::Any + Send>) -> String {
                if let Some(s) = payload.downcast_ref::<&str>() {
                    (*s).to_string()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "panic with a non-string payload".to_string()
                }
            }

            unsafe fn text<'a>(s: RStr) -> Result<&'a str, String> {
                // SAFETY: the host passes a live borrowed string.
                ::std::str::from_utf8(unsafe { s.as_bytes() }).map_err(|e| format!("argument is not UTF-8: {e}"))
            }

            fn finish(result: ::std::thread::Result<Result<Vec<u8>, String>>, out: *mut RBuf) -> i32 {
                let (status, bytes) = match result {
                    Ok(Ok(bytes)) => (STATUS_OK, bytes),
                    Ok(Err(msg)) => (STATUS_ERROR, msg.into_bytes()),
                    Err(payload) => (STATUS_PANIC, panic_message(payload).into_bytes()),
                };
                if !out.is_null() {
                    // SAFETY: the host passes a writable slot.
                    unsafe { out.write(RBuf::from_vec(bytes)) };
                }
                status
            }

            unsafe extern "C" fn manifest() -> RBuf {
                let s: &str = $manifest;
                RBuf::from_vec(s.as_bytes().to_vec())
            }

            unsafe extern "C" fn create(
                kind: RStr,
                type_name: RStr,
                config: RStr,
                instance: *mut *mut c_void,
                out: *mut RBuf,
            ) -> i32 {
                let result = ::std::panic::catch_unwind(|| -> Result<Vec<u8>, String> {
                    // SAFETY: borrowed strings from the host, live for this call.
                    let (k, t, c) = unsafe { (text(kind)?, text(type_name)?, text(config)?) };
                    let component: Box<dyn Component> = $factory(k, t, c)?;
                    let boxed: Box<Instance> = Box::new(component);
                    // SAFETY: the host passes a writable slot.
                    unsafe { instance.write(Box::into_raw(boxed).cast::<c_void>()) };
                    Ok(Vec::new())
                });
                finish(result, out)
            }

            unsafe extern "C" fn call(instance: *mut c_void, method: RStr, input: RStr, out: *mut RBuf) -> i32 {
                let result = ::std::panic::catch_unwind(|| -> Result<Vec<u8>, String> {
                    // SAFETY: `instance` came from `create` and is not yet destroyed.
                    let this: &Instance = unsafe { &*instance.cast::<Instance>() };
                    // SAFETY: borrowed strings from the host, live for this call.
                    let (m, i) = unsafe { (text(method)?, text(input)?) };
                    this.call(m, i).map(String::into_bytes)
                });
                finish(result, out)
            }

            unsafe extern "C" fn mask(
                instance: *mut c_void,
                roles: *const u8,
                len: usize,
                weights: *mut f32,
                out: *mut RBuf,
            ) -> i32 {
                let result = ::std::panic::catch_unwind(|| -> Result<Vec<u8>, String> {
                    // SAFETY: `instance` came from `create` and is not yet destroyed.
                    let this: &Instance = unsafe { &*instance.cast::<Instance>() };
                    if len == 0 {
                        return this.mask(&[], &mut []).map(|()| Vec::new());
                    }
                    // SAFETY: the host passes `len` roles and room for `len` weights.
                    let (r, w) = unsafe {
                        (
                            ::std::slice::from_raw_parts(roles, len),
                            ::std::slice::from_raw_parts_mut(weights, len),
                        )
                    };
                    this.mask(r, w).map(|()| Vec::new())
                });
                finish(result, out)
            }

            unsafe extern "C" fn destroy(instance: *mut c_void) {
                if !instance.is_null() {
                    let _ = ::std::panic::catch_unwind(|| {
                        // SAFETY: `instance` came from `create`; the host destroys it once.
                        drop(unsafe { Box::from_raw(instance.cast::<Instance>()) });
                    });
                }
            }

            unsafe extern "C" fn free_buf(buf: RBuf) {
                // SAFETY: every RBuf the host hands back was made by this library.
                drop(unsafe { buf.into_vec() });
            }

            static ENTRY: PluginEntry = PluginEntry {
                abi_version: $crate::ABI_VERSION,
                manifest,
                create,
                call,
                mask,
                destroy,
                free_buf,
            };

            #[unsafe(no_mangle)]
            pub extern "C" fn repo2agent_plugin_entry() -> *const PluginEntry {
                &ENTRY
            }
        }
    };
}
