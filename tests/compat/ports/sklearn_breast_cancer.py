# mypy: ignore-errors
# ruff: noqa
# colearn's colearn_examples/ml_interface/mli_fraud.py (scikit-learn's SGDClassifier through the
# MachineLearningInterface), ported to colearn-chain.
#
# What changed, and nothing else:
# - the colearn imports: colearn.ml_interface -> colearn_chain.compat.ml_interface,
#   colearn.onnxutils -> colearn_chain.compat.onnxutils, colearn.training ->
#   colearn_chain.compat.training, colearn.utils.plot -> colearn_chain.compat.plot,
#   colearn.utils.results -> colearn_chain.compat.results;
# - the data: scikit-learn's breast cancer set (standardized) instead of the Kaggle fraud
#   download and its preprocessing module, and the script's argument parsing for the data
#   directory is gone with it; the seed of the split is fixed.
# The learner class and the round loop are colearn's.
import os

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier

from colearn_chain.compat.ml_interface import (
    ColearnModel,
    MachineLearningInterface,
    ModelFormat,
    Prediction,
    PredictionRequest,
    ProposedWeights,
    Weights,
)
from colearn_chain.compat.onnxutils import convert_model_to_onnx
from colearn_chain.compat.plot import ColearnPlot
from colearn_chain.compat.results import Results, print_results
from colearn_chain.compat.training import collective_learning_round, initial_result, set_equal_weights


def infinite_batch_sampler(data_size, batch_size):
    while True:
        random_ind = np.random.permutation(np.arange(data_size))
        for i in range(0, data_size, batch_size):
            yield random_ind[i : i + batch_size]


class FraudLearner(MachineLearningInterface):
    def __init__(
        self,
        train_data,
        train_labels,
        vote_data,
        vote_labels,
        test_data,
        test_labels,
        batch_size: int = 10000,
        steps_per_round: int = 1,
    ):
        self.steps_per_round = steps_per_round
        self.batch_size = batch_size
        self.train_data = train_data
        self.train_labels = train_labels
        self.vote_data = vote_data
        self.vote_labels = vote_labels
        self.test_data = test_data
        self.test_labels = test_labels

        self.class_labels = np.unique(train_labels)
        self.train_sampler = infinite_batch_sampler(train_data.shape[0], batch_size)

        self.model = SGDClassifier(max_iter=1, verbose=0, loss="modified_huber")
        self.model.partial_fit(
            self.train_data[0:1], self.train_labels[0:1], classes=self.class_labels
        )  # this needs to be called before predict
        self.vote_score = self.test(self.vote_data, self.vote_labels)

    def mli_propose_weights(self) -> Weights:
        current_weights = self.mli_get_current_weights()

        for _ in range(self.steps_per_round):
            batch_indices = next(self.train_sampler)
            train_data = self.train_data[batch_indices]
            train_labels = self.train_labels[batch_indices]
            self.model.partial_fit(train_data, train_labels, classes=self.class_labels)

        new_weights = self.mli_get_current_weights()
        self.set_weights(current_weights)
        return new_weights

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        current_weights = self.mli_get_current_weights()
        self.set_weights(weights)

        vote_score = self.test(self.vote_data, self.vote_labels)

        test_score = self.test(self.test_data, self.test_labels)

        vote = self.vote_score <= vote_score

        self.set_weights(current_weights)
        return ProposedWeights(weights=weights, vote_score=vote_score, test_score=test_score, vote=vote)

    def mli_accept_weights(self, weights: Weights):
        self.set_weights(weights)
        self.vote_score = self.test(self.vote_data, self.vote_labels)

    def mli_get_current_model(self) -> ColearnModel:
        """
        :return: The current model and its format
        """

        return ColearnModel(
            model_format=ModelFormat(ModelFormat.ONNX),
            model_file="",
            model=convert_model_to_onnx(self.model),
        )

    def mli_get_current_weights(self):
        return Weights(weights=dict(coef_=self.model.coef_, intercept_=self.model.intercept_))

    def set_weights(self, weights: Weights):
        self.model.coef_ = weights.weights["coef_"]
        self.model.intercept_ = weights.weights["intercept_"]

    def test(self, data, labels):
        try:
            return self.model.score(data, labels)
        except sklearn.exceptions.NotFittedError:
            return 0

    def mli_make_prediction(self, request: PredictionRequest) -> Prediction:
        raise NotImplementedError()


train_fraction = 0.9
vote_fraction = 0.05
n_learners = 5

testing_mode = bool(os.getenv("COLEARN_EXAMPLES_TEST", ""))  # for testing
n_rounds = 7 if not testing_mode else 1

vote_threshold = 0.5

raw = load_breast_cancer()
data, labels = (raw.data - raw.data.mean(axis=0)) / raw.data.std(axis=0), raw.target
np.random.seed(0)

n_datapoints = data.shape[0]
random_indices = np.random.permutation(np.arange(n_datapoints))
n_data_per_learner = n_datapoints // n_learners

learner_train_data, learner_train_labels, learner_vote_data, learner_vote_labels, learner_test_data, \
    learner_test_labels = [], [], [], [], [], []  # fmt: skip
for i in range(n_learners):
    start_ind = i * n_data_per_learner
    stop_ind = (i + 1) * n_data_per_learner
    n_train = int(n_data_per_learner * train_fraction)
    n_vote = int(n_data_per_learner * vote_fraction)

    learner_train_ind = random_indices[start_ind : start_ind + n_train]
    learner_vote_ind = random_indices[start_ind + n_train : start_ind + n_train + n_vote]
    learner_test_ind = random_indices[start_ind + n_train + n_vote : stop_ind]

    learner_train_data.append(data[learner_train_ind])
    learner_train_labels.append(labels[learner_train_ind])
    learner_vote_data.append(data[learner_vote_ind])
    learner_vote_labels.append(labels[learner_vote_ind])
    learner_test_data.append(data[learner_test_ind])
    learner_test_labels.append(labels[learner_test_ind])

all_learner_models = []
for i in range(n_learners):
    all_learner_models.append(
        FraudLearner(
            train_data=learner_train_data[i],
            train_labels=learner_train_labels[i],
            vote_data=learner_vote_data[i],
            vote_labels=learner_vote_labels[i],
            test_data=learner_test_data[i],
            test_labels=learner_test_labels[i],
        )
    )

set_equal_weights(all_learner_models)

results = Results()
# Get initial score
results.data.append(initial_result(all_learner_models))

plot = ColearnPlot(score_name="accuracy")

for round_index in range(n_rounds):
    results.data.append(collective_learning_round(all_learner_models, vote_threshold, round_index))
    print_results(results)

    # then make an updating graph
    plot.plot_results_and_votes(results)

plot.block()
print("Colearn Example Finished!")
