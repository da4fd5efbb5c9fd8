"""What one training run does: its settings, checked once into a frozen record."""

import dataclasses
import json
import os

from keras_resnet.checks import between, positive, seed
from keras_resnet.cli.run_folder import check_folder, numbered_folder
from keras_resnet.training import data as data_lib
from keras_resnet.training import recipes as recipes_lib
from keras_resnet.training.distribute import STRATEGIES
from keras_resnet.table import get_spec

# Settings that define a run: resuming with any of them changed would train another model.
IDENTITY = ("model", "changes", "dataset", "recipe", "epochs", "batch_size", "validation_split", "seed",
            "mixed_precision", "steps_per_epoch", "subset")


@dataclasses.dataclass(frozen=True)
class Config:
    """A training run's settings, as `Config.checked` returns them: every value valid, the recipe's epochs and
    batch size filled in, the output folder chosen. The fields are the training command's options (`command`):
    `model` a name in `keras_resnet.SPECS`, `changes` the `Spec` fields to override on top of the recipe's,
    `dataset`, `data_dir`, `subset`, `validation_split` as for `data.load`, `recipe` a name in `recipes.RECIPES`,
    `batch_size` the global batch (the learning rate follows it), `strategy` one of `distribute.STRATEGIES`,
    `coordinator`, `num_processes`, `process_id` a multi-process JAX run (`distribute.initialize_processes`)."""

    model: str = "ResNet20"
    changes: dict = dataclasses.field(default_factory=dict)
    dataset: str = "digits"
    recipe: str = "he2015"
    epochs: int | None = None
    batch_size: int | None = None
    output_dir: str | None = None
    resume: bool = False
    mixed_precision: bool = False
    strategy: str = "auto"
    validation_split: float = 0.1
    seed: int | None = None
    data_dir: str | None = None
    subset: int | None = None
    steps_per_epoch: int | None = None
    verbose: int = 1
    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @classmethod
    def checked(cls, **options):
        """The `Config` of `options` (field names), checked before any data is read or file written, with the
        recipe's defaults and a new numbered folder under `runs/` filled in; ValueError naming the first bad
        option and what is allowed."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ValueError(f"Unknown training options {unknown}; allowed: {sorted(fields)}")
        config = cls(**options)
        get_spec(config.model).replace(**config.changes)  # raises on an unknown model, field or value
        recipe = recipes_lib.get(config.recipe)
        data_lib.check_dataset(config.dataset)
        if config.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {config.strategy!r}; use one of {', '.join(STRATEGIES)}")
        filled = dict(epochs=recipe.epochs if config.epochs is None else config.epochs,
                      batch_size=recipe.batch_size if config.batch_size is None else config.batch_size)
        for name in ("epochs", "batch_size", "steps_per_epoch", "subset"):
            value = filled.get(name, getattr(config, name))
            if value is not None:
                positive(f"--{name.replace('_', '-')}", value)
        seed("--seed", config.seed)
        between("--validation-split", config.validation_split, 0, 1)
        if config.output_dir is None:
            name = f"{config.model}-{os.path.basename(os.path.normpath(str(config.dataset)))}-{config.recipe}"
            filled["output_dir"] = numbered_folder(os.path.join("runs", name), config.resume)
        check_folder(filled.get("output_dir", config.output_dir))
        return dataclasses.replace(config, **filled)

    @property
    def training_recipe(self):
        """The `Recipe` at this run's batch size (the linear scaling rule)."""
        return recipes_lib.get(self.recipe).at_batch_size(self.batch_size)

    def identity(self):
        """The settings that define the run, as stored in run.json."""
        return json.loads(json.dumps({k: getattr(self, k) for k in IDENTITY}))
