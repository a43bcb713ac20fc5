"""Face: the live preview with an oval guide coloured by the checks, one instruction, a countdown
before the auto-capture, the officer's capture button; then the portrait with retake / continue.

The camera's grabber thread keeps only the newest frame; a pump thread takes each new one, scales
it down to the size the preview shows it at, and asks the UI thread to blit it into a texture
(OpenGL only works on the main thread), which it does on its next frame.  Analysis runs in the
capture job, so a slow analysis slows the judgement, never the preview.  The preview is shown
mirrored, as a mirror would show the citizen (moving to their left moves the picture to the left,
which the guidance "move to your left" relies on); the captured portrait is shown as it will be
printed, not mirrored.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.graphics.texture import Texture
from kivy.properties import ListProperty, NumericProperty, StringProperty

from capture.face.checks import FaceAnalyser, release_models
from capture.face.guidance import MESSAGES
from capture.face.sample import FaceSample
from drivers.camera.base import Camera
from kiosk.i18n import _
from kiosk.session import SessionError
from kiosk.ui.portrait import Progress, take_portrait
from kiosk.ui.widgets import KioskScreen

PREVIEW_ROW_ALIGNMENT = 4
"""Preview widths are a multiple of this, so that each BGR row is a whole number of 4-byte words:
OpenGL's default unpacking alignment, and Mesa's fast upload path."""


@dataclass(frozen=True)
class PreviewFrame:
    """A camera frame made ready for the preview texture by the pump thread."""

    sequence: int
    pixels: np.ndarray
    """BGR, C-contiguous, at most the preview's size."""


def fit_preview(pixels: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """``pixels`` scaled down to fit ``box`` (width, height in window pixels), aspect kept.

    The preview widget is far smaller than a 1280 x 720 frame: uploading the whole frame made the UI
    thread copy and convert 2.7 MB per frame for OpenGL to throw most of it away when drawing.
    Bilinear, as the texture's own minification (GL_LINEAR) did, so the picture looks as before, at
    about 1 ms per frame; INTER_AREA at this non-integer ratio took about 10 ms, a third of a core
    at 30 fps on a 2-core station.  OpenCV releases the GIL while it resizes.  An empty ``box``
    (the preview not laid out yet) or a larger one leaves the frame as it is.
    """
    height, width = pixels.shape[:2]
    scale = min(box[0] / width, box[1] / height) if box[0] > 0 and box[1] > 0 else 1.0
    if scale >= 1.0:
        return pixels
    size = (max(PREVIEW_ROW_ALIGNMENT, round(width * scale) // PREVIEW_ROW_ALIGNMENT * PREVIEW_ROW_ALIGNMENT),
            max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR)


class FaceScreen(KioskScreen):
    guide_colour = ListProperty([0.6, 0.6, 0.6, 1])
    countdown = StringProperty("")
    guidance = StringProperty("")
    mode = StringProperty("live")
    """live (preview and analysis) | captured (the portrait, retake or continue)"""
    frames_shown = NumericProperty(0)
    """Preview frames blitted since the app started (bench/kiosk_figures.py reads it)."""

    def on_kv_post(self, _base: Any) -> None:
        self._preview: PreviewFrame | None = None
        self._preview_box = (0, 0)
        """The preview widget's size, for the pump thread (written on the UI thread only)."""
        self._shown_sequence = 0
        self._texture: Texture | None = None
        self._job: threading.Event | None = None
        self._manual = threading.Event()
        self._guidance_id = ""
        self.pending: FaceSample | None = None
        self._analyser: FaceAnalyser | None = None
        self._show_preview = Clock.create_trigger(self._blit)
        """Fired by the pump for each new frame (Kivy's scheduling is thread-safe): the frame is shown on
        the UI thread's next frame, neither polled for nor missed between two polls."""
        self.ids.preview.bind(size=self._preview_resized)

    # -- entering and leaving -----------------------------------------------------------------

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._translate)
        if self.pending is None and self.app.session.face is not None:  # back from the fingers: keep it
            self.pending = self.app.session.face
        if self.pending is not None:
            self._show_portrait(self.pending)
        else:
            self._start()

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._translate)
        self._stop()

    def clear(self) -> None:
        self._stop()
        self._analyser = None
        release_models()  # ~14 MiB until the next photo, which loads them again (~0.3 s)
        self.pending = None
        self._texture = None
        self.ids.preview.texture = None
        self.ids.portrait.texture = None
        self.guidance = self.countdown = ""
        self._guidance_id = ""
        self.mode = "live"

    def _start(self) -> None:
        self.mode = "live"
        self._manual = threading.Event()
        self._guidance_id = MESSAGES["no_face"]
        self._translate()
        self.countdown = ""
        self._shown_sequence = 0  # a camera opened again counts its frames from 1
        self._job = self.app.jobs.start("portrait", self._work, self._captured, self._failed)

    def _stop(self) -> None:
        if self._job is not None:
            self._job.set()
            self._job = None
        self._show_preview.cancel()
        self._preview = None  # the last frame, scaled: nothing shows it any more

    # -- the workers --------------------------------------------------------------------------

    def _work(self, cancel: threading.Event) -> FaceSample:
        if self._analyser is None:
            self._analyser = FaceAnalyser(self.app.services.config.face)  # loads the models once (~0.3 s)
        manual = self._manual
        stop = threading.Event()
        with self.app.services.camera() as camera:
            pump = threading.Thread(target=self._pump, args=(camera, stop, cancel), name="kiosk-preview",
                                    daemon=True)
            pump.start()
            try:
                return take_portrait(camera, self._analyser, countdown_s=self.app.countdown_s, cancel=cancel,
                                     manual=manual, on_progress=self._progress)
            finally:
                stop.set()
                pump.join(2.0)

    def _pump(self, camera: Camera, stop: threading.Event, cancel: threading.Event) -> None:
        """Scale every new frame to the preview's size and ask the UI thread to show it (only the
        newest is kept).  The scaling is done here: the UI thread has the whole window to draw."""
        sequence = 0
        while not (stop.is_set() or cancel.is_set()):
            try:
                frame = camera.latest(newer_than=sequence, timeout=0.5, cancel=stop)
            except Exception:  # a stalled or closed camera: the capture job reports it
                continue
            sequence = frame.sequence
            self._preview = PreviewFrame(frame.sequence, fit_preview(frame.pixels, self._preview_box))
            self._show_preview()

    def _progress(self, progress: Progress) -> None:
        """From the capture job: post the analysis to the UI thread."""
        Clock.schedule_once(lambda _dt: self._show_progress(progress), 0)

    # -- the UI thread ------------------------------------------------------------------------

    def _preview_resized(self, _image: Any, size: list[float]) -> None:
        if size[0] > 0 and size[1] > 0:  # hidden while the portrait is shown: keep the last size
            self._preview_box = (int(size[0]), int(size[1]))

    def _blit(self, _dt: float) -> None:
        preview = self._preview
        if preview is None or preview.sequence == self._shown_sequence or self._job is None or self.mode != "live":
            return  # nothing new, or a last frame from a pump that is stopping
        self._shown_sequence = preview.sequence
        height, width = preview.pixels.shape[:2]
        if self._texture is None or self._texture.size != (width, height):
            self._texture = Texture.create(size=(width, height), colorfmt="bgr")
            self._texture.flip_vertical()
            self._texture.flip_horizontal()  # a mirror image: see the module docstring
        # The array itself (a flat view of it, as blit_buffer wants), not a copy of its bytes.
        self._texture.blit_buffer(preview.pixels.reshape(-1), colorfmt="bgr", bufferfmt="ubyte")
        self.ids.preview.texture = self._texture
        self.ids.preview.canvas.ask_update()
        self.frames_shown += 1

    def _show_progress(self, progress: Progress) -> None:
        if self.mode != "live":
            return
        analysis = progress.analysis
        app = self.app
        if analysis.passed:
            self.guide_colour = app.c_ok
        elif analysis.faces:
            self.guide_colour = app.c_warn
        else:
            self.guide_colour = app.c_bad
        if analysis.faces:
            app.session.face_seen()  # holds the photo step a bounded time only: a face is not a touch
        self._guidance_id = progress.guidance
        self._translate()
        self.countdown = "" if progress.countdown is None else str(int(progress.countdown + 0.999) or "")

    def _translate(self, *_args: Any) -> None:
        self.guidance = _(self._guidance_id) if self._guidance_id else ""

    def _captured(self, sample: FaceSample) -> None:
        self._stop()
        self.pending = sample
        self._show_portrait(sample)

    def _failed(self, error: BaseException) -> None:
        self._stop()
        self.app.fail(error, "face")

    def _show_portrait(self, sample: FaceSample) -> None:
        self.mode = "captured"
        self.countdown = ""
        image = CoreImage(io.BytesIO(sample.token_jpeg), ext="jpg")
        self.ids.portrait.texture = image.texture

    # -- buttons ------------------------------------------------------------------------------

    def capture_now(self) -> None:
        """The officer's button: take the latest analysed frame, whatever its checks say (after the PIN)."""
        self.app.officer_action(self._manual.set)

    def retake(self) -> None:
        self.pending = None
        self.ids.portrait.texture = None
        self._start()

    def accept(self) -> None:
        if self.pending is None:
            return
        try:
            self.app.session.accept_face(self.pending)
        except SessionError as error:
            self.guidance = _(error.message)
            return
        self.pending = None
        self.app.show_step()

    def back(self) -> None:
        self._stop()
        self.pending = None
        self.app.session.back()
        self.app.show_step()
