"""DeepPrivacy-style face anonymization: the generator (``anonymizer.generator``), its trainer
(``anonymizer.training``), generator evaluation (``anonymizer.evaluation``) and the bundled
model (``anonymizer/weights/``)."""
