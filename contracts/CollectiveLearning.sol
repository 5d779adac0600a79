// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title CollectiveLearning: the driver of one collective learning experiment (PROTOCOL.md v1)
/// @notice Rotates (or lets a selector nominate) the proposer of each round, records the proposed
///         weights and manifest hashes, tallies the voters' approvals and moves the global model on.
/// @dev Gas layout. Everything about the round in progress lives in one storage word (`_current`)
///      that is rewritten in place round after round (non-zero to non-zero writes), and each
///      learner's "last round voted / contributed" lives in that learner's own word, written in
///      place too; so a vote costs the same whatever the number of learners. A round leaves behind
///      exactly what `roundInfo` must return for it: its weights, its manifest (when non-zero), one
///      packed summary word, and the proposer's index in selector mode.
contract CollectiveLearning {
    // ------------------------------------------------------------------------------------------
    // Errors (names fixed by PROTOCOL.md; fields are ours)
    // ------------------------------------------------------------------------------------------

    /// @notice The constructor was given an empty learner list.
    error NoLearners();
    /// @notice `learner` appears more than once in the constructor's learner list.
    error DuplicateLearner(address learner);
    /// @notice The constructor's learner list holds the zero address.
    error ZeroAddress();
    /// @notice `thresholdBps` is not in 1..10000.
    error ThresholdOutOfRange(uint16 thresholdBps);
    /// @notice A weights hash (initial model, proposal or contribution) is zero.
    error EmptyWeights();
    /// @notice All `maxRounds` rounds have ended; nothing can change any more.
    error ExperimentFinished(uint256 maxRounds);
    /// @notice The call named round `given` while round `current` is in progress.
    error WrongRound(uint256 current, uint256 given);
    /// @notice `sender` is not the proposer of the round (`proposer`, zero if none is nominated).
    error NotProposer(address sender, address proposer);
    /// @notice Round `round` already has its proposal.
    error AlreadyProposed(uint256 round);
    /// @notice The proposal window of `round` ended with block `lastBlock`.
    error ProposalWindowClosed(uint256 round, uint256 lastBlock);
    /// @notice `account` is not a registered learner.
    error NotLearner(address account);
    /// @notice `learner` already contributed an update to round `round`.
    error AlreadyContributed(uint256 round, address learner);
    /// @notice Round `round` has no proposal yet.
    error NoProposal(uint256 round);
    /// @notice `proposer` proposed this round and so cannot vote on it.
    error ProposerCannotVote(address proposer);
    /// @notice `voter` already voted in round `round`.
    error AlreadyVoted(uint256 round, address voter);
    /// @notice The voting window of `round` ended with block `lastBlock`.
    error VotingClosed(uint256 round, uint256 lastBlock);
    /// @notice Votes of `round` may still arrive until block `lastBlock` (max uint64: no deadline).
    error VotingOpen(uint256 round, uint256 lastBlock);
    /// @notice The proposal window of `round` is open until block `lastBlock` (max uint64: no deadline).
    error ProposalWindowOpen(uint256 round, uint256 lastBlock);
    /// @notice `sender` is not this experiment's selector.
    error NotSelector(address sender);
    /// @notice The selector already nominated `proposer` for round `round`.
    error AlreadyNominated(uint256 round, address proposer);

    // ------------------------------------------------------------------------------------------
    // Events (fixed by PROTOCOL.md)
    // ------------------------------------------------------------------------------------------

    /// @notice Learner `learner` was registered at position `index` (constructor, in order).
    event LearnerRegistered(uint256 indexed index, address indexed learner);
    /// @notice The selector nominated `proposer` to propose in `round`.
    event ProposerNominated(uint256 indexed round, address indexed proposer, address indexed selector);
    /// @notice `learner` offered the update `weights` to the proposer of `round`.
    event UpdateContributed(uint256 indexed round, address indexed learner, bytes32 weights);
    /// @notice `proposer` proposed `weights` (made as `manifest` says) in `round`.
    event WeightsProposed(uint256 indexed round, address indexed proposer, bytes32 weights, bytes32 manifest);
    /// @notice `voter` voted on the proposal of `round` with its fixed-point (6 decimals) `score`.
    event VoteCast(uint256 indexed round, address indexed voter, bool approve, int256 score);
    /// @notice `round` ended with a proposal; `globalModel` is the global model after it.
    event RoundFinalized(uint256 indexed round, bool accepted, uint32 approvals, uint32 rejections, bytes32 globalModel);
    /// @notice `round` ended without a proposal; `proposer` (zero if none was nominated) was silent.
    event RoundSkipped(uint256 indexed round, address indexed proposer);

    // ------------------------------------------------------------------------------------------
    // Round status codes, as returned by `roundInfo`
    // ------------------------------------------------------------------------------------------

    uint8 private constant _PROPOSING = 0;
    uint8 private constant _VOTING = 1;
    uint8 private constant _ACCEPTED = 2;
    uint8 private constant _REJECTED = 3;
    uint8 private constant _SKIPPED = 4;

    // ------------------------------------------------------------------------------------------
    // Packed words. `_current`: the round in progress. `_summaries[r]`: a round that has ended.
    // Both use one layout, so ending a round copies the word with its status changed.
    //   bits   0..39   round number                (current only)
    //   bits  40..87   start block
    //   bits  88..135  proposal block              (0 while proposing)
    //   bits 136..167  approvals
    //   bits 168..199  rejections
    //   bits 200..231  proposer index + 1          (selector mode; 0 = not nominated)
    //   bits 232..239  status
    // A learner word: bits 0..31 index + 1, 32..95 last round voted + 1, 96..159 last round
    // contributed + 1 (so a zero word means "not a learner").
    // ------------------------------------------------------------------------------------------

    uint256 private constant _ROUND_MASK = (1 << 40) - 1;
    uint256 private constant _BLOCK_MASK = (1 << 48) - 1;
    uint256 private constant _U32_MASK = (1 << 32) - 1;
    uint256 private constant _U64_MASK = (1 << 64) - 1;
    uint256 private constant _START_SHIFT = 40;
    uint256 private constant _PROPOSED_SHIFT = 88;
    uint256 private constant _APPROVALS_SHIFT = 136;
    uint256 private constant _REJECTIONS_SHIFT = 168;
    uint256 private constant _NOMINEE_SHIFT = 200;
    uint256 private constant _STATUS_SHIFT = 232;
    uint256 private constant _VOTED_SHIFT = 32;
    uint256 private constant _CONTRIBUTED_SHIFT = 96;
    uint256 private constant _NO_DEADLINE = type(uint64).max;

    uint256 private immutable _learnerCount;
    uint16 private immutable _thresholdBps;
    uint64 private immutable _proposalWindow;
    uint64 private immutable _votingWindow;
    uint64 private immutable _maxRounds;
    bytes32 private immutable _initialModel;
    address private immutable _selector;

    address[] private _learners;
    mapping(address account => uint256 word) private _learnerWords;
    uint256 private _current;
    bytes32 private _globalModel;
    mapping(uint256 round => uint256 word) private _summaries;
    mapping(uint256 round => bytes32 weights) private _proposedWeights;
    mapping(uint256 round => bytes32 manifest) private _manifests;

    /// @notice Starts an experiment: registers the learners in order and opens round 0.
    /// @param learners_ The fixed, ordered learner addresses (no duplicates, no zero address).
    /// @param thresholdBps_ Approvals needed, in basis points of the n - 1 voters (1..10000).
    /// @param proposalWindow_ Blocks a round may wait for its proposal (0: no deadline).
    /// @param votingWindow_ Blocks a proposal may wait for its votes (0: no deadline).
    /// @param maxRounds_ Rounds the experiment lasts (0: unlimited).
    /// @param initialModel_ sha256 of the initial model's ONNX bytes (non-zero).
    /// @param selector_ The address allowed to nominate proposers, or zero for round-robin.
    constructor(
        address[] memory learners_,
        uint16 thresholdBps_,
        uint64 proposalWindow_,
        uint64 votingWindow_,
        uint64 maxRounds_,
        bytes32 initialModel_,
        address selector_
    ) {
        // Checked in the order PROTOCOL.md lists the constructor's errors.
        uint256 count = learners_.length;
        if (count == 0) revert NoLearners();
        for (uint256 i = 0; i < count; ++i) {
            address learner = learners_[i];
            if (_learnerWords[learner] != 0) revert DuplicateLearner(learner);
            if (learner == address(0)) revert ZeroAddress();
            _learnerWords[learner] = i + 1;
            _learners.push(learner);
            emit LearnerRegistered(i, learner);
        }
        if (thresholdBps_ == 0 || thresholdBps_ > 10000) revert ThresholdOutOfRange(thresholdBps_);
        if (initialModel_ == bytes32(0)) revert EmptyWeights();
        _learnerCount = count;
        _thresholdBps = thresholdBps_;
        _proposalWindow = proposalWindow_;
        _votingWindow = votingWindow_;
        _maxRounds = maxRounds_;
        _initialModel = initialModel_;
        _selector = selector_;
        _globalModel = initialModel_;
        _current = block.number << _START_SHIFT;
    }

    // ------------------------------------------------------------------------------------------
    // State-changing functions
    // ------------------------------------------------------------------------------------------

    /// @notice Proposes `weights` for `round`; only the round's proposer, once, inside the window.
    /// @param round The round in progress.
    /// @param weights sha256 of the proposed model's ONNX bytes, already in the content store.
    /// @param manifest sha256 of the JSON manifest saying how the proposal was made, or zero.
    function propose(uint256 round, bytes32 weights, bytes32 manifest) external {
        uint256 current = _current;
        _checkRound(current, round);
        uint256 proposerIndex = _proposerIndex(current);
        uint256 senderWord = _learnerWords[msg.sender];
        if (senderWord == 0 || (senderWord & _U32_MASK) - 1 != proposerIndex) {
            revert NotProposer(msg.sender, _addressAt(proposerIndex));
        }
        if (_status(current) != _PROPOSING) revert AlreadyProposed(round);
        if (weights == bytes32(0)) revert EmptyWeights();
        _checkProposalWindow(current, round);

        _proposedWeights[round] = weights;
        if (manifest != bytes32(0)) _manifests[round] = manifest;
        current = (current & ~(_BLOCK_MASK << _PROPOSED_SHIFT)) | (block.number << _PROPOSED_SHIFT);
        current = (current & ~(uint256(0xff) << _STATUS_SHIFT)) | (uint256(_VOTING) << _STATUS_SHIFT);
        _current = current;
        emit WeightsProposed(round, msg.sender, weights, manifest);
        if (_learnerCount == 1) _endRound(current, round, weights);
    }

    /// @notice Offers a local update to the round's aggregating proposer; any learner, once,
    ///         before the proposal.
    /// @param round The round in progress.
    /// @param weights sha256 of the update's ONNX bytes, already in the content store.
    function contribute(uint256 round, bytes32 weights) external {
        uint256 current = _current;
        _checkRound(current, round);
        uint256 word = _learnerWords[msg.sender];
        if (word == 0) revert NotLearner(msg.sender);
        if (_status(current) != _PROPOSING) revert AlreadyProposed(round);
        if ((word >> _CONTRIBUTED_SHIFT) & _U64_MASK == round + 1) {
            revert AlreadyContributed(round, msg.sender);
        }
        if (weights == bytes32(0)) revert EmptyWeights();

        _learnerWords[msg.sender] =
            (word & ~(_U64_MASK << _CONTRIBUTED_SHIFT)) | ((round + 1) << _CONTRIBUTED_SHIFT);
        emit UpdateContributed(round, msg.sender, weights);
    }

    /// @notice Votes on the proposal of `round`; each learner but the proposer, once, inside the
    ///         voting window. The last eligible vote ends the round.
    /// @param round The round in progress.
    /// @param approve Whether the voter's model improves with the proposal (colearn's rule).
    /// @param score The voter's vote score of the proposal, fixed point with 6 decimals.
    function vote(uint256 round, bool approve, int256 score) external {
        uint256 current = _current;
        _checkRound(current, round);
        uint256 word = _learnerWords[msg.sender];
        if (word == 0) revert NotLearner(msg.sender);
        if (_status(current) != _VOTING) revert NoProposal(round);
        // slither-disable-next-line incorrect-equality (learner indices, not block numbers)
        if ((word & _U32_MASK) - 1 == _proposerIndex(current)) revert ProposerCannotVote(msg.sender);
        if ((word >> _VOTED_SHIFT) & _U64_MASK == round + 1) revert AlreadyVoted(round, msg.sender);
        uint256 proposed = (current >> _PROPOSED_SHIFT) & _BLOCK_MASK;
        if (_votingWindow != 0 && block.number > proposed + _votingWindow) {
            revert VotingClosed(round, proposed + _votingWindow);
        }

        _learnerWords[msg.sender] = (word & ~(_U64_MASK << _VOTED_SHIFT)) | ((round + 1) << _VOTED_SHIFT);
        current += uint256(1) << (approve ? _APPROVALS_SHIFT : _REJECTIONS_SHIFT);
        _current = current;
        emit VoteCast(round, msg.sender, approve, score);
        if (_approvals(current) + _rejections(current) >= _learnerCount - 1) {
            _endRound(current, round, _proposedWeights[round]);
        }
    }

    /// @notice Ends `round` with the votes it has once its voting window has passed; anyone.
    /// @param round The round in progress.
    function finalize(uint256 round) external {
        uint256 current = _current;
        _checkRound(current, round);
        if (_status(current) != _VOTING) revert NoProposal(round);
        uint256 proposed = (current >> _PROPOSED_SHIFT) & _BLOCK_MASK;
        if (_votingWindow == 0) revert VotingOpen(round, _NO_DEADLINE);
        if (block.number <= proposed + _votingWindow) revert VotingOpen(round, proposed + _votingWindow);
        _endRound(current, round, _proposedWeights[round]);
    }

    /// @notice Ends `round` without a proposal once its proposal window has passed; anyone.
    /// @param round The round in progress.
    function skip(uint256 round) external {
        uint256 current = _current;
        _checkRound(current, round);
        if (_status(current) != _PROPOSING) revert AlreadyProposed(round);
        uint256 start = (current >> _START_SHIFT) & _BLOCK_MASK;
        if (_proposalWindow == 0) revert ProposalWindowOpen(round, _NO_DEADLINE);
        if (block.number <= start + _proposalWindow) revert ProposalWindowOpen(round, start + _proposalWindow);

        current = (current & ~(uint256(0xff) << _STATUS_SHIFT)) | (uint256(_SKIPPED) << _STATUS_SHIFT);
        _summaries[round] = current & ~_ROUND_MASK;
        _current = (block.number << _START_SHIFT) | (round + 1);
        emit RoundSkipped(round, _addressAt(_proposerIndex(current)));
    }

    /// @notice Nominates `proposer` to propose in `round`; the selector only, once a round,
    ///         before the proposal and inside the proposal window.
    /// @param round The round in progress.
    /// @param proposer A registered learner.
    function nominate(uint256 round, address proposer) external {
        uint256 current = _current;
        if (_isFinished(current)) revert ExperimentFinished(_maxRounds);
        if (msg.sender != _selector) revert NotSelector(msg.sender);
        if (round != current & _ROUND_MASK) revert WrongRound(current & _ROUND_MASK, round);
        uint256 word = _learnerWords[proposer];
        if (word == 0) revert NotLearner(proposer);
        uint256 nominee = (current >> _NOMINEE_SHIFT) & _U32_MASK;
        if (nominee != 0) revert AlreadyNominated(round, _learners[nominee - 1]);
        if (_status(current) != _PROPOSING) revert AlreadyProposed(round);
        _checkProposalWindow(current, round);

        _current = current | ((word & _U32_MASK) << _NOMINEE_SHIFT);
        emit ProposerNominated(round, proposer, msg.sender);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The registered learners, in registration order.
    function learners() external view returns (address[] memory) {
        return _learners;
    }

    /// @notice The number of registered learners.
    function learnerCount() external view returns (uint256) {
        return _learnerCount;
    }

    /// @notice Whether `account` is a registered learner.
    function isLearner(address account) external view returns (bool) {
        return _learnerWords[account] != 0;
    }

    /// @notice The round in progress (equals `maxRounds` once the experiment is finished).
    function currentRound() external view returns (uint256) {
        return _current & _ROUND_MASK;
    }

    /// @notice The proposer of the round in progress: zero while the selector has not
    ///         nominated one, and once the experiment is finished.
    function currentProposer() external view returns (address) {
        uint256 current = _current;
        if (_isFinished(current)) return address(0);
        return _addressAt(_proposerIndex(current));
    }

    /// @notice The global model: the initial model, or the weights of the last accepted proposal.
    function globalModel() external view returns (bytes32) {
        return _globalModel;
    }

    /// @notice The initial model's hash, as given to the constructor.
    function initialModel() external view returns (bytes32) {
        return _initialModel;
    }

    /// @notice Approvals needed, in basis points of the n - 1 voters.
    function thresholdBps() external view returns (uint16) {
        return _thresholdBps;
    }

    /// @notice Blocks a round may wait for its proposal (0: no deadline).
    function proposalWindow() external view returns (uint64) {
        return _proposalWindow;
    }

    /// @notice Blocks a proposal may wait for its votes (0: no deadline).
    function votingWindow() external view returns (uint64) {
        return _votingWindow;
    }

    /// @notice Rounds the experiment lasts (0: unlimited).
    function maxRounds() external view returns (uint64) {
        return _maxRounds;
    }

    /// @notice The address allowed to nominate proposers (zero: round-robin).
    function selector() external view returns (address) {
        return _selector;
    }

    /// @notice Whether all `maxRounds` rounds have ended.
    function finished() external view returns (bool) {
        return _isFinished(_current);
    }

    /// @notice Everything the chain holds about `round` (all zero for a round not yet started).
    /// @return proposer The round's proposer (zero in selector mode until nominated).
    /// @return weights The proposed weights hash (zero until proposed).
    /// @return manifest The proposal's manifest hash (zero if none).
    /// @return approvals Approving votes so far.
    /// @return rejections Rejecting votes so far.
    /// @return status 0 proposing, 1 voting, 2 accepted, 3 rejected, 4 skipped.
    /// @return startBlock The block the round started in.
    /// @return proposedBlock The block of the proposal (zero until proposed).
    function roundInfo(uint256 round)
        external
        view
        returns (
            address proposer,
            bytes32 weights,
            bytes32 manifest,
            uint32 approvals,
            uint32 rejections,
            uint8 status,
            uint64 startBlock,
            uint64 proposedBlock
        )
    {
        uint256 current = _current;
        uint256 inProgress = current & _ROUND_MASK;
        if (round > inProgress || (round >= inProgress && _isFinished(current))) {
            return (address(0), bytes32(0), bytes32(0), 0, 0, 0, 0, 0);
        }
        uint256 word = round < inProgress ? _summaries[round] : current;
        proposer = _addressAt(_selector == address(0) ? round % _learnerCount : _nomineeIndex(word));
        weights = _proposedWeights[round];
        manifest = _manifests[round];
        approvals = uint32(_approvals(word));
        rejections = uint32(_rejections(word));
        status = _status(word);
        startBlock = uint64((word >> _START_SHIFT) & _BLOCK_MASK);
        proposedBlock = uint64((word >> _PROPOSED_SHIFT) & _BLOCK_MASK);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Tallies the round, moves the global model on acceptance and opens the next round.
    function _endRound(uint256 current, uint256 round, bytes32 weights) private {
        uint256 approvals = _approvals(current);
        bool accepted = approvals * 10000 >= uint256(_thresholdBps) * (_learnerCount - 1);
        uint8 status = accepted ? _ACCEPTED : _REJECTED;
        _summaries[round] =
            (current & ~(_ROUND_MASK | (uint256(0xff) << _STATUS_SHIFT))) | (uint256(status) << _STATUS_SHIFT);
        bytes32 model = _globalModel;
        if (accepted) {
            model = weights;
            _globalModel = weights;
        }
        _current = (block.number << _START_SHIFT) | (round + 1);
        emit RoundFinalized(round, accepted, uint32(approvals), uint32(_rejections(current)), model);
    }

    /// @dev The precedence shared by every round call: finished first, then the round number.
    function _checkRound(uint256 current, uint256 round) private view {
        if (_isFinished(current)) revert ExperimentFinished(_maxRounds);
        if (round != current & _ROUND_MASK) revert WrongRound(current & _ROUND_MASK, round);
    }

    function _checkProposalWindow(uint256 current, uint256 round) private view {
        uint256 start = (current >> _START_SHIFT) & _BLOCK_MASK;
        if (_proposalWindow != 0 && block.number > start + _proposalWindow) {
            revert ProposalWindowClosed(round, start + _proposalWindow);
        }
    }

    function _isFinished(uint256 current) private view returns (bool) {
        return _maxRounds != 0 && current & _ROUND_MASK >= _maxRounds;
    }

    /// @dev The proposer's index, or `type(uint256).max` when a selector has not nominated one.
    function _proposerIndex(uint256 current) private view returns (uint256) {
        if (_selector == address(0)) return (current & _ROUND_MASK) % _learnerCount;
        return _nomineeIndex(current);
    }

    function _nomineeIndex(uint256 word) private pure returns (uint256) {
        uint256 nominee = (word >> _NOMINEE_SHIFT) & _U32_MASK;
        return nominee != 0 ? nominee - 1 : type(uint256).max;
    }

    function _addressAt(uint256 index) private view returns (address) {
        return index < _learnerCount ? _learners[index] : address(0);
    }

    function _status(uint256 word) private pure returns (uint8) {
        return uint8(word >> _STATUS_SHIFT);
    }

    function _approvals(uint256 word) private pure returns (uint256) {
        return (word >> _APPROVALS_SHIFT) & _U32_MASK;
    }

    function _rejections(uint256 word) private pure returns (uint256) {
        return (word >> _REJECTIONS_SHIFT) & _U32_MASK;
    }
}
