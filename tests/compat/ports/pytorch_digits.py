# mypy: ignore-errors
# ruff: noqa
# colearn's colearn_examples/ml_interface/pytorch_mnist.py, ported to colearn-chain.
#
# What changed, and nothing else:
# - the colearn imports: colearn.training -> colearn_chain.compat.training,
#   colearn.utils.plot -> colearn_chain.compat.plot, colearn.utils.results ->
#   colearn_chain.compat.results, colearn_pytorch.utils -> colearn_chain.compat.pytorch_utils,
#   colearn_pytorch.pytorch_learner -> colearn_chain.compat.pytorch_learner;
# - the data: scikit-learn's digits, upsampled to 28x28, instead of downloading MNIST with
#   torchvision (nothing may download at run time), and torchsummary's summary() line, a
#   print of the model for which there is no package here, is left out.
# The model, the learners' settings and the round loop are colearn's.
import os

import numpy as np
import torch.nn as nn
import torch.nn.functional as nn_func
import torch.utils.data
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from typing_extensions import TypedDict

from colearn_chain.compat.plot import ColearnPlot
from colearn_chain.compat.pytorch_learner import PytorchLearner
from colearn_chain.compat.pytorch_utils import categorical_accuracy
from colearn_chain.compat.results import Results, print_results
from colearn_chain.compat.training import collective_learning_round, initial_result, set_equal_weights

# define some constants
n_learners = 5
batch_size = 64

testing_mode = bool(os.getenv("COLEARN_EXAMPLES_TEST", ""))  # for testing
n_rounds = 20 if not testing_mode else 1
vote_threshold = 0.5
train_fraction = 0.9
learning_rate = 0.001
height = 28
width = 28
n_classes = 10
vote_batches = 2
score_name = "categorical accuracy"

no_cuda = False
cuda = not no_cuda and torch.cuda.is_available()
device = torch.device("cuda" if cuda else "cpu")
DataloaderKwargs = TypedDict("DataloaderKwargs", {"num_workers": int, "pin_memory": bool}, total=False)
kwargs: DataloaderKwargs = {"num_workers": 1, "pin_memory": True} if cuda else {}

# Load the data and split for each learner (digits 8x8 -> 28x28 instead of MNIST).
digits = load_digits()
images = zoom(digits.images / 16.0, (1, 3.5, 3.5), order=1).astype(np.float32)
data = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(digits.target))
torch.manual_seed(0)
n_train = int(train_fraction * len(data))
n_test = len(data) - n_train
train_data, test_data = torch.utils.data.random_split(data, [n_train, n_test])

data_split = [len(train_data) // n_learners] * n_learners
learner_train_data = torch.utils.data.random_split(train_data, [*data_split[:-1], len(train_data) - sum(data_split[:-1])])
learner_train_dataloaders = [
    torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, **kwargs) for ds in learner_train_data
]

data_split = [len(test_data) // n_learners] * n_learners
learner_test_data = torch.utils.data.random_split(test_data, [*data_split[:-1], len(test_data) - sum(data_split[:-1])])
learner_test_dataloaders = [
    torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, **kwargs) for ds in learner_test_data
]


# Define the model
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, n_classes)

    def forward(self, x):
        x = nn_func.relu(self.conv1(x.view(-1, 1, height, width)))
        x = nn_func.max_pool2d(x, 2, 2)
        x = nn_func.relu(self.conv2(x))
        x = nn_func.max_pool2d(x, 2, 2)
        x = x.view(-1, 4 * 4 * 50)
        x = nn_func.relu(self.fc1(x))
        x = self.fc2(x)
        return nn_func.log_softmax(x, dim=1)


# Make n instances of PytorchLearner with model and torch dataloaders
all_learner_models = []
for i in range(n_learners):
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    learner = PytorchLearner(
        model=model,
        train_loader=learner_train_dataloaders[i],
        vote_loader=learner_test_dataloaders[i],
        test_loader=learner_test_dataloaders[i],
        device=device,
        optimizer=opt,
        criterion=torch.nn.NLLLoss(),
        num_test_batches=vote_batches,
        vote_criterion=categorical_accuracy,
        minimise_criterion=False,
    )

    all_learner_models.append(learner)

# Ensure all learners starts with exactly same weights
set_equal_weights(all_learner_models)

# Train the model using Collective Learning
results = Results()
results.data.append(initial_result(all_learner_models))

plot = ColearnPlot(score_name=score_name)

for round_index in range(n_rounds):
    results.data.append(collective_learning_round(all_learner_models, vote_threshold, round_index))
    print_results(results)

    plot.plot_results_and_votes(results)

plot.block()

print("Colearn Example Finished!")
