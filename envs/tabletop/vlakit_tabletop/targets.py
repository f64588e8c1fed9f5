"""The training targets of the tabletop datasets: image-space points of the top camera."""

from __future__ import annotations

from vlakit import TargetSpec

#: The simulator's one camera, looking down on the table.
CAMERA = "top"

TARGETS: dict[str, TargetSpec] = {
    "aim": TargetSpec(
        (2,),
        camera=CAMERA,
        description="where the gripper heads for at this step, (x, y) fractions of the image: the "
        "object to grasp, then where to put it (a question: the object it is about)",
    ),
    "anchor": TargetSpec(
        (2,),
        camera=CAMERA,
        description="the reference the instruction names: the X of 'closest to the X' or 'next to "
        "the X', the pad of 'on the number 3', the named place; absent where there is none",
    ),
}
