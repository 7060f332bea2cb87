//! The window (minifb): showing pictures scaled to the window, the overlay, and the keys.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use minifb::{InputCallback, Key, Window, WindowOptions};

use super::overlay::{draw_panel, draw_toast, text_scale_for, PixelBuf};
use super::presenter::{Action, Presenter};
use super::scale::Canvas;

/// Window title; fixed so tests and kiosk scripts can find the window by name.
pub const TITLE: &str = "stylecast";

/// Whether a display server is named in the environment at all (an empty `DISPLAY`
/// counts as unset).
pub fn display_named() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// The key bindings (see the --help text).
pub fn key_action(key: Key) -> Option<Action> {
    Some(match key {
        Key::Left => Action::PrevStyle,
        Key::Right => Action::NextStyle,
        Key::Key1 => Action::Style(0),
        Key::Key2 => Action::Style(1),
        Key::Key3 => Action::Style(2),
        Key::Key4 => Action::Style(3),
        Key::Key5 => Action::Style(4),
        Key::Key6 => Action::Style(5),
        Key::Key7 => Action::Style(6),
        Key::Key8 => Action::Style(7),
        Key::Key9 => Action::Style(8),
        Key::Space => Action::Freeze,
        Key::S => Action::Snapshot,
        Key::O => Action::CycleView,
        // '+' is shift+'=' on most layouts; take the unshifted key too.
        Key::Equal | Key::NumPadPlus => Action::StrengthUp,
        Key::Minus | Key::NumPadMinus => Action::StrengthDown,
        Key::C => Action::ToggleColors,
        Key::F => Action::ToggleFps,
        Key::Q | Key::Escape => Action::Quit,
        _ => return None,
    })
}

/// Key presses in order, as minifb reports them. Polling the key state instead would
/// miss a tap whose press and release both fall between two window updates.
#[derive(Clone, Default)]
struct KeyQueue(Rc<RefCell<Vec<Key>>>);

impl InputCallback for KeyQueue {
    fn add_char(&mut self, _: u32) {}
    fn set_key_state(&mut self, key: Key, down: bool) {
        if down {
            self.0.borrow_mut().push(key);
        }
    }
}

impl KeyQueue {
    fn drain(&self) -> Vec<Key> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

pub struct WindowDisplay {
    window: Window,
    canvas: Canvas,
    keys: KeyQueue,
}

impl WindowDisplay {
    /// Opens the window: `size` for a normal window; with `fullscreen`, borderless over
    /// the whole screen with the cursor hidden.
    pub fn open(size: (usize, usize), fullscreen: bool) -> Result<Self> {
        let (w, h) = size;
        let opts = WindowOptions {
            borderless: fullscreen,
            title: !fullscreen,
            resize: !fullscreen,
            topmost: fullscreen,
            ..WindowOptions::default()
        };
        // minifb reports most failures as errors, but some backends panic when no
        // display library is present: turn that into an error too, quietly.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let made = std::panic::catch_unwind(|| Window::new(TITLE, w, h, opts));
        std::panic::set_hook(hook);
        let mut window = match made {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => return Err(anyhow!("{e}")),
            Err(_) => {
                return Err(anyhow!(
                    "the window library panicked while opening a window"
                ))
            }
        };
        // Our loop waits on the pipeline; minifb's own frame limiter would only add delay.
        window.set_target_fps(0);
        let keys = KeyQueue::default();
        window.set_input_callback(Box::new(keys.clone()));
        if fullscreen {
            window.set_position(0, 0);
            window.set_cursor_visibility(false);
            // The window grows to the screen through minifb's own X connection (a second
            // connection opened beside minifb's made its XOpenDisplay fail now and then).
            // The canvas follows the window's size from the next frame on.
            #[cfg(target_os = "linux")]
            x11::make_fullscreen(&window);
        }
        Ok(Self {
            window,
            canvas: Canvas::new(w, h),
            keys,
        })
    }

    /// Runs until q/Esc, the window is closed, or the frame limit is reached.
    pub fn run(&mut self, p: &mut Presenter) -> Result<()> {
        let mut redraw_at: Option<Instant> = None;
        while self.window.is_open() && !p.done() {
            for key in self.keys.drain() {
                if let Some(a) = key_action(key) {
                    if !p.apply(a) {
                        return Ok(());
                    }
                    redraw_at = Some(Instant::now());
                }
            }
            let mut changed = p.poll(Duration::from_millis(10));
            let (w, h) = self.window.get_size();
            if w > 0 && h > 0 && (w, h) != (self.canvas.width, self.canvas.height) {
                self.canvas.resize(w, h);
                changed = true;
            }
            // Redraw for new pictures, key actions, and once when a toast expires.
            if redraw_at.is_some_and(|t| t <= Instant::now()) {
                changed = true;
                redraw_at = p.overlay_deadline();
            }
            if changed {
                self.draw(p);
                let (cw, ch) = (self.canvas.width, self.canvas.height);
                self.window
                    .update_with_buffer(&self.canvas.buf, cw, ch)
                    .map_err(|e| anyhow!("window update failed: {e}"))?;
                if redraw_at.is_none() {
                    redraw_at = p.overlay_deadline();
                }
            } else {
                self.window.update();
            }
        }
        Ok(())
    }

    fn draw(&mut self, p: &Presenter) {
        if let Some(pic) = p.picture() {
            self.canvas.draw_fit(pic, p.aspect());
        }
        let scale = text_scale_for(self.canvas.height);
        let (width, height) = (self.canvas.width, self.canvas.height);
        let mut surface = PixelBuf {
            buf: &mut self.canvas.buf,
            width,
            height,
        };
        draw_panel(&mut surface, &p.overlay_lines(), scale);
        if let Some(t) = p.toast() {
            draw_toast(&mut surface, &t, scale);
        }
    }
}

#[cfg(target_os = "linux")]
mod x11 {
    use std::ffi::CStr;

    use raw_window_handle::{HasDisplayHandle, HasWindowHandle, RawDisplayHandle, RawWindowHandle};
    use x11_dl::xlib;

    /// libX11's entry points, loaded once and kept (dropping an `Xlib` unloads the library).
    fn xlib() -> Option<&'static xlib::Xlib> {
        static LIB: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
        let addr = *LIB.get_or_init(|| {
            xlib::Xlib::open()
                .ok()
                .map(|x| Box::leak(Box::new(x)) as *const xlib::Xlib as usize)
        });
        // SAFETY: the address of a leaked, never-freed Xlib.
        addr.map(|a| unsafe { &*(a as *const xlib::Xlib) })
    }

    /// Resizes an X11 window to cover the screen and asks the window manager (EWMH) to
    /// make it full-screen, above panels; without a window manager the resize alone does.
    /// Other backends (Wayland) keep the window as opened.
    pub fn make_fullscreen(window: &minifb::Window) {
        let (Ok(dh), Ok(wh)) = (window.display_handle(), window.window_handle()) else {
            return;
        };
        let (RawDisplayHandle::Xlib(dh), RawWindowHandle::Xlib(wh)) = (dh.as_raw(), wh.as_raw())
        else {
            return;
        };
        let Some(display) = dh.display else { return };
        let Some(x) = xlib() else { return };
        let d = display.as_ptr() as *mut xlib::Display;
        const STATE: &CStr = c"_NET_WM_STATE";
        const FULLSCREEN: &CStr = c"_NET_WM_STATE_FULLSCREEN";
        // SAFETY: minifb's live connection and window, used on the thread that owns them;
        // the event is zeroed, then every field the protocol reads is set.
        unsafe {
            let screen = dh.screen;
            let (w, h) = ((x.XDisplayWidth)(d, screen), (x.XDisplayHeight)(d, screen));
            if w > 0 && h > 0 {
                (x.XMoveResizeWindow)(d, wh.window, 0, 0, w as u32, h as u32);
            }
            let root = (x.XRootWindow)(d, screen);
            let mut ev: xlib::XEvent = std::mem::zeroed();
            ev.client_message.type_ = xlib::ClientMessage;
            ev.client_message.send_event = xlib::True;
            ev.client_message.display = d;
            ev.client_message.window = wh.window;
            ev.client_message.message_type = (x.XInternAtom)(d, STATE.as_ptr(), xlib::False);
            ev.client_message.format = 32;
            let data = ev.client_message.data.as_longs_mut();
            data[0] = 1; // _NET_WM_STATE_ADD
            data[1] = (x.XInternAtom)(d, FULLSCREEN.as_ptr(), xlib::False) as _;
            data[3] = 1; // source: a normal application
            (x.XSendEvent)(
                d,
                root,
                xlib::False,
                xlib::SubstructureRedirectMask | xlib::SubstructureNotifyMask,
                &mut ev,
            );
            (x.XFlush)(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_queue_keeps_taps_in_order() {
        let mut q = KeyQueue::default();
        q.set_key_state(Key::Right, true);
        q.set_key_state(Key::Right, false);
        q.set_key_state(Key::S, true);
        assert_eq!(q.clone().drain(), [Key::Right, Key::S]);
        assert!(q.drain().is_empty());
    }

    #[test]
    fn every_documented_key_is_bound() {
        assert_eq!(key_action(Key::Left), Some(Action::PrevStyle));
        assert_eq!(key_action(Key::Right), Some(Action::NextStyle));
        assert_eq!(key_action(Key::Key1), Some(Action::Style(0)));
        assert_eq!(key_action(Key::Key9), Some(Action::Style(8)));
        assert_eq!(key_action(Key::Space), Some(Action::Freeze));
        assert_eq!(key_action(Key::S), Some(Action::Snapshot));
        assert_eq!(key_action(Key::O), Some(Action::CycleView));
        assert_eq!(key_action(Key::Equal), Some(Action::StrengthUp));
        assert_eq!(key_action(Key::NumPadPlus), Some(Action::StrengthUp));
        assert_eq!(key_action(Key::Minus), Some(Action::StrengthDown));
        assert_eq!(key_action(Key::C), Some(Action::ToggleColors));
        assert_eq!(key_action(Key::F), Some(Action::ToggleFps));
        assert_eq!(key_action(Key::Q), Some(Action::Quit));
        assert_eq!(key_action(Key::Escape), Some(Action::Quit));
        assert_eq!(key_action(Key::Z), None);
    }
}
