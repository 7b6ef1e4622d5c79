"""A fix to Triton's CPU interpreter (``TRITON_INTERPRET=1``, the tests) that the kernels need.

Triton 3.6's interpreter turns a loop bound into ``int(array)``; NumPy >= 2.4 refuses that for the 1-element arrays
its scalars are. ``patch_interpreter_index`` makes such a tensor read its single element instead. Triton has no
public hook for this, so the patch reaches into ``triton.runtime.interpreter``; it is a no-op outside the
interpreter.
"""

from __future__ import annotations

from genoattn.settings import current_settings


def patch_interpreter_index() -> None:
    """Apply the patch once (interpreter only)."""
    if not current_settings().triton_interpret:
        return
    from triton.runtime import interpreter

    if getattr(interpreter, "_genoattn_index_patch", False):
        return
    original = interpreter._patch_lang_tensor

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patched
    interpreter._genoattn_index_patch = True
