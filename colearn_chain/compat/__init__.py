"""colearn compatibility: what colearn's learners import, under the same names, on this platform.

A colearn learner ports by changing its imports:

=====================================  ==========================================
colearn                                colearn-chain
=====================================  ==========================================
``colearn.ml_interface``               ``colearn_chain.compat.ml_interface``
``colearn.onnxutils``                  ``colearn_chain.compat.onnxutils``
``colearn.training``                   ``colearn_chain.compat.training``
``colearn.utils.results``              ``colearn_chain.compat.results``
``colearn.utils.plot``                 ``colearn_chain.compat.plot``
``colearn_pytorch.pytorch_learner``    ``colearn_chain.compat.pytorch_learner``
``colearn_pytorch.utils``              ``colearn_chain.compat.pytorch_utils``
=====================================  ==========================================

What does not port: weights that are a pickle (colearn's random forest example). Only checked
ONNX crosses the wire here, so such a learner is refused when it first hands weights over;
:class:`colearn_chain.compat.sklearn_learner.SklearnLearner` is a scikit-learn learner whose
weights are ONNX. Importing this package imports neither torch nor scikit-learn.
"""
