"""vlakit's own commands; each module adds its commands to the root group on import."""

from vlakit.cli.commands import (  # noqa: F401
    bench,
    bundle,
    dataset,
    evaluate,
    plugins,
    recipe,
    run,
    serve,
    train,
)
