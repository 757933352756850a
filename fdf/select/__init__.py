"""Selection for diversity: face shards in, the chosen faces out as face shards.

* :mod:`.gates` — quality gates with FDF's defaults (crop and face size, sharpness, landmark fit);
* :mod:`.dedupe` — identical photos (sha256) and near-duplicate faces (perceptual hash);
* :mod:`.caps` — identity clusters from the 128-d descriptors; at most K faces per identity/owner;
* :mod:`.balance` — pose/expression stratification towards a target yaw histogram;
* :mod:`.select` — the stage: runs the steps, records a decision per face, writes SELECTED.
"""

from .select import SelectConfig, SelectSummary, select_faces

__all__ = ["SelectConfig", "SelectSummary", "select_faces"]
