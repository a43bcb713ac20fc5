"""Face: the live preview with an oval guide coloured by the checks, one instruction, a countdown
before the auto-capture, the officer's capture button; then the portrait with retake / continue.

The camera's grabber thread keeps only the newest frame; a pump thread takes each new one and
this screen blits it into a texture on the UI thread at the display's pace (OpenGL only works on
the main thread).  Analysis runs in the capture job, so a slow analysis slows the judgement, never
the preview.  The preview is shown mirrored, as a mirror would show the citizen (moving to
their left moves the picture to the left, which the guidance "move to your left" relies on);
the captured portrait is shown as it will be printed, not mirrored.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.graphics.texture import Texture
from kivy.properties import ListProperty, NumericProperty, StringProperty

from capture.face.checks import FaceAnalyser
from capture.face.guidance import MESSAGES
from capture.face.sample import FaceSample
from drivers.camera.base import Camera, Frame
from kiosk.i18n import _
from kiosk.session import SessionError
from kiosk.ui.portrait import Progress, take_portrait
from kiosk.ui.widgets import KioskScreen

PREVIEW_HZ = 30.0


class FaceScreen(KioskScreen):
    guide_colour = ListProperty([0.6, 0.6, 0.6, 1])
    countdown = StringProperty("")
    guidance = StringProperty("")
    mode = StringProperty("live")
    """live (preview and analysis) | captured (the portrait, retake or continue)"""
    frames_shown = NumericProperty(0)
    """Preview frames blitted since the app started (bench/kiosk.py reads it)."""

    def on_kv_post(self, _base: Any) -> None:
        self._frame: Frame | None = None
        self._shown_sequence = 0
        self._texture: Texture | None = None
        self._job: threading.Event | None = None
        self._manual = threading.Event()
        self._guidance_id = ""
        self.pending: FaceSample | None = None
        self._analyser: FaceAnalyser | None = None
        self._blitter: Any = None

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
        self.pending = None
        self._frame = None
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
        self._job = self.app.jobs.start("portrait", self._work, self._captured, self._failed)
        self._blitter = Clock.schedule_interval(self._blit, 1.0 / PREVIEW_HZ)

    def _stop(self) -> None:
        if self._job is not None:
            self._job.set()
            self._job = None
        if self._blitter is not None:
            self._blitter.cancel()
            self._blitter = None

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
        """Hand every new frame to the UI thread's blitter (only the newest is kept)."""
        sequence = 0
        while not (stop.is_set() or cancel.is_set()):
            try:
                frame = camera.latest(newer_than=sequence, timeout=0.5, cancel=stop)
            except Exception:  # a stalled or closed camera: the capture job reports it
                continue
            sequence = frame.sequence
            self._frame = frame

    def _progress(self, progress: Progress) -> None:
        """From the capture job: post the analysis to the UI thread."""
        Clock.schedule_once(lambda _dt: self._show_progress(progress), 0)

    # -- the UI thread ------------------------------------------------------------------------

    def _blit(self, _dt: float) -> None:
        frame = self._frame
        if frame is None or frame.sequence == self._shown_sequence or self.mode != "live":
            return
        self._shown_sequence = frame.sequence
        if self._texture is None or self._texture.size != (frame.width, frame.height):
            self._texture = Texture.create(size=(frame.width, frame.height), colorfmt="bgr")
            self._texture.flip_vertical()
            self._texture.flip_horizontal()  # a mirror image: see the module docstring
        self._texture.blit_buffer(frame.pixels.tobytes(), colorfmt="bgr", bufferfmt="ubyte")
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
            app.session.touch()  # somebody is in front of the camera
        else:
            self.guide_colour = app.c_bad
        if analysis.passed:
            app.session.touch()
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
        """The officer's button: take the latest analysed frame, whatever its checks say."""
        self._manual.set()

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
