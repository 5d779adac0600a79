// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title CollectiveLearning: the driver of one collective learning experiment (PROTOCOL.md v2)
/// @notice Rotates (or lets a selector nominate) the proposer of each round, records the proposed
///         weights and manifest hashes, tallies the voters' approvals and moves the global model on.
///         Votes arrive one per transaction (`vote`) or as EIP-712 signed votes relayed by anyone
///         in one transaction (`submitVotes`).
/// @dev Gas layout. Everything about the round in progress lives in one storage word (`_current`)
///      that is rewritten in place round after round (non-zero to non-zero writes). Who has voted
///      in the round lives in "vote words" of 192 learners each, tagged with the round they
///      belong to (a word tagged with another round reads as empty), so they too are rewritten in
///      place and a batch of signed votes writes one word per 192 voters, not one per voter. The
///      learner addresses are stored as the code of small data contracts ("pages", SSTORE2-style)
///      and read with EXTCODECOPY, so checking a signature against its learner reads no storage
///      slot of that learner. Each learner's "last round contributed" lives in its own word. A
///      round leaves behind exactly what `roundInfo` must return for it: its weights, its
///      manifest (when non-zero), one packed summary word, and the proposer's index in selector
///      mode.
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
    /// @notice `submitVotes` was given no votes.
    error EmptyBatch();
    /// @notice The vote at `position` of a batch does not have a larger learner index than the one
    ///         before it (indices must be strictly increasing, so no voter appears twice).
    error UnsortedVotes(uint256 position);
    /// @notice The signed vote naming learner `index` is invalid: the index is past the learners,
    ///         or the signature is malformed, high-s, or not that learner's for this round's proposal.
    error BadVoteSignature(uint256 index);

    // ------------------------------------------------------------------------------------------
    // Signed votes (PROTOCOL.md v2)
    // ------------------------------------------------------------------------------------------

    /// @notice One signed vote of a `submitVotes` batch. Its signature is in EIP-2098's 64-byte
    ///         compact form only (`r`, `vs`), as two static words: a batch then has no dynamic
    ///         field to decode, which makes each vote cheaper (65-byte `r || s || v` signatures
    ///         convert losslessly: `vs = s | (v - 27) << 255`).
    /// @param index The voter's position in `learners()`.
    /// @param approve The vote, as in `vote`.
    /// @param score The vote score, fixed point with 6 decimals, as in `vote`.
    /// @param r The signature's `r`.
    /// @param vs The signature's `s` with the recovery parity (v - 27) in its top bit; `s` must be
    ///        in the lower half order (EIP-2). The signed message is the EIP-712
    ///        `Vote(uint256 round,bytes32 weights,bool approve,int64 score)`, `weights` being the
    ///        round's proposal, under this contract's domain (`eip712Domain`).
    struct SignedVote {
        uint32 index;
        bool approve;
        int64 score;
        bytes32 r;
        bytes32 vs;
    }

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
    //   bits   0..39   current: round number; summary: 1 + the last round accepted up to this
    //                  one (0: none), so the global model is found without a word of its own
    //                  (an accepted round then writes no extra slot)
    //   bits  40..87   start block
    //   bits  88..135  proposal block              (0 while proposing)
    //   bits 136..167  approvals
    //   bits 168..199  rejections
    //   bits 200..231  proposer index + 1          (selector mode; 0 = not nominated)
    //   bits 232..239  status
    // A learner word: bits 0..31 index + 1, 96..159 last round contributed + 1 (so a zero word
    // means "not a learner"; bits 32..95 are unused since votes moved to the vote words).
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
    uint256 private constant _CONTRIBUTED_SHIFT = 96;
    uint256 private constant _NO_DEADLINE = type(uint64).max;
    /// @dev Vote words: bits 0..191 one per learner, bits 192..255 the word's round + 1.
    uint256 private constant _VOTE_WORD_LEARNERS = 192;
    uint256 private constant _VOTE_TAG_SHIFT = 192;
    /// @dev Learners per page (20 bytes each, after one leading STOP byte: under EIP-170's limit).
    uint256 private constant _PAGE_LEARNERS = 256;
    /// @dev secp256k1's order / 2: the largest `s` accepted (EIP-2).
    uint256 private constant _HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 private constant _PROTOCOL_VERSION = 2;
    bytes32 private constant _VOTE_TYPEHASH =
        keccak256("Vote(uint256 round,bytes32 weights,bool approve,int64 score)");
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _NAME_HASH = keccak256("CollectiveLearning");
    bytes32 private constant _VERSION_HASH = keccak256("2");

    uint256 private immutable _learnerCount;
    uint16 private immutable _thresholdBps;
    uint64 private immutable _proposalWindow;
    uint64 private immutable _votingWindow;
    uint64 private immutable _maxRounds;
    bytes32 private immutable _initialModel;
    address private immutable _selector;
    /// @dev Round 0's start block: max(deployment block, startBlock), which may not fit the
    ///      48-bit start field of the packed words (later rounds start at a mined block, which does).
    uint64 private immutable _roundZeroStart;
    /// @dev The first page of learner addresses (learners 0..255); later pages are in `_morePages`.
    address private immutable _firstPage;
    uint256 private immutable _deployedChainId;
    bytes32 private immutable _deployedDomainSeparator;

    address[] private _morePages;
    mapping(address account => uint256 word) private _learnerWords;
    mapping(uint256 wordIndex => uint256 word) private _voteWords;
    uint256 private _current;
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
    /// @param startBlock_ Round 0 starts at max(deployment block, startBlock_) (0: at deployment).
    constructor(
        address[] memory learners_,
        uint16 thresholdBps_,
        uint64 proposalWindow_,
        uint64 votingWindow_,
        uint64 maxRounds_,
        bytes32 initialModel_,
        address selector_,
        uint64 startBlock_
    ) {
        // Checked in the order PROTOCOL.md lists the constructor's errors.
        uint256 count = learners_.length;
        if (count == 0) revert NoLearners();
        for (uint256 i = 0; i < count; ++i) {
            address learner = learners_[i];
            if (_learnerWords[learner] != 0) revert DuplicateLearner(learner);
            if (learner == address(0)) revert ZeroAddress();
            _learnerWords[learner] = i + 1;
            emit LearnerRegistered(i, learner);
        }
        if (thresholdBps_ == 0 || thresholdBps_ > 10000) revert ThresholdOutOfRange(thresholdBps_);
        if (initialModel_ == bytes32(0)) revert EmptyWeights();
        address firstPage = address(0);
        for (uint256 first = 0; first < count; first += _PAGE_LEARNERS) {
            address page = _writePage(learners_, first, _min(count, first + _PAGE_LEARNERS));
            if (first == 0) firstPage = page;
            else _morePages.push(page);
        }
        _firstPage = firstPage;
        uint64 roundZeroStart = block.number > startBlock_ ? uint64(block.number) : startBlock_;
        _roundZeroStart = roundZeroStart;
        _deployedChainId = block.chainid;
        _deployedDomainSeparator = _buildDomainSeparator();
        _learnerCount = count;
        _thresholdBps = thresholdBps_;
        _proposalWindow = proposalWindow_;
        _votingWindow = votingWindow_;
        _maxRounds = maxRounds_;
        _initialModel = initialModel_;
        _selector = selector_;
        // Round 0's start is read from `_roundZeroStart` (see `_startOf`); the packed field holds
        // its low bits only so that the word is non-zero (later writes to it cost less).
        _current = (uint256(roundZeroStart) & _BLOCK_MASK) << _START_SHIFT;
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
        uint256 index = (word & _U32_MASK) - 1;
        // slither-disable-next-line incorrect-equality (learner indices, not block numbers)
        if (index == _proposerIndex(current)) revert ProposerCannotVote(msg.sender);
        uint256 wordIndex = index / _VOTE_WORD_LEARNERS;
        uint256 votes = _roundVoteWord(wordIndex, round);
        uint256 bit = uint256(1) << (index % _VOTE_WORD_LEARNERS);
        if (votes & bit != 0) revert AlreadyVoted(round, msg.sender);
        _checkVotingWindow(current, round);

        _voteWords[wordIndex] = votes | bit;
        current += uint256(1) << (approve ? _APPROVALS_SHIFT : _REJECTIONS_SHIFT);
        _current = current;
        emit VoteCast(round, msg.sender, approve, score);
        if (_approvals(current) + _rejections(current) >= _learnerCount - 1) {
            _endRound(current, round, _proposedWeights[round]);
        }
    }

    /// @notice Counts a batch of EIP-712 signed votes on the proposal of `round`; anyone may
    ///         relay them, the signatures are the authority. Each counted entry has exactly the
    ///         effect of its voter calling `vote(round, approve, score)` (the same `VoteCast`, in
    ///         entry order, and `RoundFinalized` right after the round's last eligible vote).
    /// @dev Entries must name strictly increasing learner indices. An entry whose voter has
    ///      already voted in the round (directly, earlier in another batch, or, once the round
    ///      has finalized inside this batch, at all: every voter has then voted) is skipped
    ///      without an event. Entries after the one that finalized the round are still checked
    ///      (order, signature, proposer) against the round's proposal, then skipped, so that a
    ///      batch's validity does not depend on which of its votes happened to be the last.
    /// @param round The round in progress.
    /// @param votes The signed votes, sorted by learner index; signatures in EIP-2098's compact
    ///        form (see `SignedVote`).
    // slither-disable-next-line cyclomatic-complexity (the protocol's checks, in its order)
    function submitVotes(uint256 round, SignedVote[] calldata votes) external {
        uint256 current = _current;
        _checkRound(current, round);
        if (_status(current) != _VOTING) revert NoProposal(round);
        _checkVotingWindow(current, round);
        if (votes.length == 0) revert EmptyBatch();

        bytes32 weights = _proposedWeights[round];
        uint256 remaining = _learnerCount - 1 - _approvals(current) - _rejections(current);
        uint256 wordIndex = type(uint256).max;
        uint256 votesWord = 0;
        uint256 previous = 0;
        for (uint256 position = 0; position < votes.length; ++position) {
            uint256 entry = _entryAt(votes, position);
            uint256 index = _entryIndex(entry);
            if (position != 0 && index <= previous) revert UnsortedVotes(position);
            previous = index;
            address voter = _verifiedVoter(entry, index, round, weights);
            // slither-disable-next-line incorrect-equality (learner indices, not block numbers)
            if (index == _proposerIndex(current)) revert ProposerCannotVote(voter);
            if (index / _VOTE_WORD_LEARNERS != wordIndex) {
                // An unchanged word costs 100 gas to write back: cheaper than tracking changes.
                if (wordIndex != type(uint256).max) _voteWords[wordIndex] = votesWord;
                wordIndex = index / _VOTE_WORD_LEARNERS;
                votesWord = _roundVoteWord(wordIndex, round);
            }
            uint256 bit = uint256(1) << (index % _VOTE_WORD_LEARNERS);
            if (votesWord & bit != 0) continue;
            votesWord |= bit;
            current += uint256(1) << (_entryApproves(entry) ? _APPROVALS_SHIFT : _REJECTIONS_SHIFT);
            _emitVoteCast(entry, round, voter);
            --remaining;
            // slither-disable-next-line incorrect-equality (a vote count, not a block number)
            if (remaining == 0) _endRound(current, round, weights);
        }
        _voteWords[wordIndex] = votesWord;
        if (remaining != 0) _current = current;
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
        uint256 start = _startOf(current, round);
        if (_proposalWindow == 0) revert ProposalWindowOpen(round, _NO_DEADLINE);
        if (block.number <= start + _proposalWindow) revert ProposalWindowOpen(round, start + _proposalWindow);

        current = (current & ~(uint256(0xff) << _STATUS_SHIFT)) | (uint256(_SKIPPED) << _STATUS_SHIFT);
        _summaries[round] = (current & ~_ROUND_MASK) | _acceptedBefore(round);
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
        if (nominee != 0) revert AlreadyNominated(round, _addressAt(nominee - 1));
        if (_status(current) != _PROPOSING) revert AlreadyProposed(round);
        _checkProposalWindow(current, round);

        _current = current | ((word & _U32_MASK) << _NOMINEE_SHIFT);
        emit ProposerNominated(round, proposer, msg.sender);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The registered learners, in registration order.
    function learners() external view returns (address[] memory all) {
        uint256 count = _learnerCount;
        all = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            all[i] = _addressAt(i);
        }
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
        return _modelOf(_acceptedBefore(_current & _ROUND_MASK));
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
        startBlock = uint64(_startOf(word, round));
        proposedBlock = uint64((word >> _PROPOSED_SHIFT) & _BLOCK_MASK);
    }

    /// @notice The protocol version this contract implements (PROTOCOL.md): 2.
    function protocolVersion() external pure returns (uint256) {
        return _PROTOCOL_VERSION;
    }

    /// @notice Whether `voter` has voted (directly or in a batch) in `round`, the round in
    ///         progress; false for any other round, for a non-learner, and once finished.
    /// @param round The round asked about.
    /// @param voter Any address.
    function hasVoted(uint256 round, address voter) external view returns (bool) {
        uint256 current = _current;
        if (_isFinished(current) || round != current & _ROUND_MASK) return false;
        uint256 word = _learnerWords[voter];
        if (word == 0) return false;
        uint256 index = (word & _U32_MASK) - 1;
        return _roundVoteWord(index / _VOTE_WORD_LEARNERS, round) & (uint256(1) << (index % _VOTE_WORD_LEARNERS)) != 0;
    }

    /// @notice The EIP-712 digest a voter signs for a vote in `submitVotes`:
    ///         `Vote(uint256 round,bytes32 weights,bool approve,int64 score)` under this
    ///         contract's domain (see `eip712Domain`).
    /// @param round The round voted in.
    /// @param weights The hash of the proposal voted on.
    /// @param approve The vote.
    /// @param score The vote score, fixed point with 6 decimals.
    function voteDigest(uint256 round, bytes32 weights, bool approve, int64 score) external view returns (bytes32) {
        return _hashVote(_domainSeparator(), round, weights, approve, score);
    }

    /// @notice The EIP-712 domain of signed votes (EIP-5267): name "CollectiveLearning",
    ///         version "2", this chain's id and this contract; no salt, no extensions.
    /// @return fields 0x0f: name, version, chainId and verifyingContract are used.
    /// @return name "CollectiveLearning".
    /// @return version "2".
    /// @return chainId The chain's id.
    /// @return verifyingContract This contract.
    /// @return salt Zero (unused).
    /// @return extensions Empty.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "CollectiveLearning", "2", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Tallies the round, moves the global model on acceptance and opens the next round.
    function _endRound(uint256 current, uint256 round, bytes32 weights) private {
        uint256 approvals = _approvals(current);
        bool accepted = approvals * 10000 >= uint256(_thresholdBps) * (_learnerCount - 1);
        uint8 status = accepted ? _ACCEPTED : _REJECTED;
        // An accepted round is the new last accepted one and its weights the model: no other read.
        uint256 lastAccepted = accepted ? round + 1 : _acceptedBefore(round);
        _summaries[round] = (current & ~(_ROUND_MASK | (uint256(0xff) << _STATUS_SHIFT)))
            | (uint256(status) << _STATUS_SHIFT) | lastAccepted;
        bytes32 model = accepted ? weights : _modelOf(lastAccepted);
        // slither-disable-next-line costly-loop (a batch ends its round at most once)
        _current = (block.number << _START_SHIFT) | (round + 1);
        emit RoundFinalized(round, accepted, uint32(approvals), uint32(_rejections(current)), model);
    }

    /// @dev 1 + the last round accepted before `round` started (0: none), as recorded in the
    ///      summary of round `round - 1`.
    function _acceptedBefore(uint256 round) private view returns (uint256) {
        // slither-disable-next-line incorrect-equality (round and page numbers, not block numbers)
        return round == 0 ? 0 : _summaries[round - 1] & _ROUND_MASK;
    }

    /// @dev The global model after the rounds up to `lastAccepted` (1 + a round, or 0: none).
    function _modelOf(uint256 lastAccepted) private view returns (bytes32) {
        // slither-disable-next-line incorrect-equality (round and page numbers, not block numbers)
        return lastAccepted == 0 ? _initialModel : _proposedWeights[lastAccepted - 1];
    }

    /// @dev The precedence shared by every round call: finished first, then the round number.
    function _checkRound(uint256 current, uint256 round) private view {
        if (_isFinished(current)) revert ExperimentFinished(_maxRounds);
        if (round != current & _ROUND_MASK) revert WrongRound(current & _ROUND_MASK, round);
    }

    function _checkProposalWindow(uint256 current, uint256 round) private view {
        uint256 start = _startOf(current, round);
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

    /// @dev The learner at `index`, or zero past the learners (e.g. no nominee yet).
    function _addressAt(uint256 index) private view returns (address) {
        if (index >= _learnerCount) return address(0);
        return _readPage(_page(index / _PAGE_LEARNERS), index % _PAGE_LEARNERS);
    }

    /// @dev The start block of `round`, whose packed word is `word`.
    function _startOf(uint256 word, uint256 round) private view returns (uint256) {
        return round == 0 ? _roundZeroStart : (word >> _START_SHIFT) & _BLOCK_MASK;
    }

    function _checkVotingWindow(uint256 current, uint256 round) private view {
        uint256 proposed = (current >> _PROPOSED_SHIFT) & _BLOCK_MASK;
        if (_votingWindow != 0 && block.number > proposed + _votingWindow) {
            revert VotingClosed(round, proposed + _votingWindow);
        }
    }

    /// @dev Vote word `wordIndex` as it stands in `round`: a word last written in another round
    ///      reads as that round's tag with no votes.
    function _roundVoteWord(uint256 wordIndex, uint256 round) private view returns (uint256) {
        uint256 word = _voteWords[wordIndex];
        uint256 tag = round + 1;
        // slither-disable-next-line incorrect-equality (a round tag, not a block number)
        return word >> _VOTE_TAG_SHIFT == tag ? word : tag << _VOTE_TAG_SHIFT;
    }

    /// @dev Deploys a data contract whose code is a STOP byte and then the 20-byte addresses
    ///      `learners_[first..end)`, and returns its address.
    function _writePage(address[] memory learners_, uint256 first, uint256 end) private returns (address page) {
        bytes memory data = new bytes(1 + 20 * (end - first));
        for (uint256 i = first; i < end; ++i) {
            address learner = learners_[i];
            uint256 offset = 1 + 20 * (i - first);
            // slither-disable-next-line assembly
            assembly ("memory-safe") {
                let at := add(add(data, 32), offset)
                mstore(at, or(shl(96, learner), and(mload(at), sub(shl(96, 1), 1))))
            }
        }
        // Init code: PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN, then the data.
        bytes memory init = abi.encodePacked(hex"61", uint16(data.length), hex"80600c6000396000f3", data);
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            page := create(0, add(init, 32), mload(init))
        }
        // CREATE fails only when out of gas: revert without a (misleading) protocol error.
        require(page != address(0));
    }

    function _page(uint256 pageNumber) private view returns (address) {
        // slither-disable-next-line incorrect-equality (round and page numbers, not block numbers)
        return pageNumber == 0 ? _firstPage : _morePages[pageNumber - 1];
    }

    /// @dev The address at `slot` of `page` (EXTCODECOPY of its 20 bytes).
    function _readPage(address page, uint256 slot) private view returns (address learner) {
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            mstore(0, 0)
            extcodecopy(page, 12, add(1, mul(20, slot)), 20)
            learner := mload(0)
        }
    }

    // Batch entries are read straight from calldata: `votes` is a static-struct array (five words
    // per entry: index, approve, score, r, vs), whose bounds the ABI decoder checked on entry.

    /// @dev The calldata offset of entry `position` of `votes`.
    function _entryAt(SignedVote[] calldata votes, uint256 position) private pure returns (uint256 entry) {
        // slither-disable-next-line assembly
        assembly {
            entry := add(votes.offset, mul(position, 0xa0))
        }
    }

    /// @dev The learner index of the entry at `entry`, after checking that its index, approve and
    ///      score words are clean ABI values (uint32, bool, int64), as Solidity's decoder would.
    function _entryIndex(uint256 entry) private pure returns (uint256 index) {
        bool clean;
        // slither-disable-next-line assembly
        assembly {
            index := calldataload(entry)
            let approve := calldataload(add(entry, 0x20))
            let score := calldataload(add(entry, 0x40))
            // slither-disable-next-line too-many-digits (2**32: the uint32 bound)
            clean := and(and(lt(index, 0x100000000), lt(approve, 2)), eq(signextend(7, score), score))
        }
        if (!clean) revert();
    }

    function _entryApproves(uint256 entry) private pure returns (bool approve) {
        // slither-disable-next-line assembly
        assembly {
            approve := calldataload(add(entry, 0x20))
        }
    }

    /// @dev `VoteCast(round, voter, approve, score)`, its data (approve, score) copied from the entry.
    function _emitVoteCast(uint256 entry, uint256 round, address voter) private {
        bytes32 topic = VoteCast.selector;
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, add(entry, 0x20), 0x40)
            log3(ptr, 0x40, topic, round, voter)
        }
    }

    /// @dev The learner the entry at `entry` names, once its signature is checked to be that
    ///      learner's vote on `weights` in `round`; reverts with `BadVoteSignature` otherwise.
    function _verifiedVoter(uint256 entry, uint256 index, uint256 round, bytes32 weights)
        private
        view
        returns (address voter)
    {
        if (index >= _learnerCount) revert BadVoteSignature(index);
        voter = _readPage(_page(index / _PAGE_LEARNERS), index % _PAGE_LEARNERS);
        bool approve;
        int64 score;
        bytes32 r;
        bytes32 vs;
        // slither-disable-next-line assembly
        assembly {
            approve := calldataload(add(entry, 0x20))
            score := calldataload(add(entry, 0x40))
            r := calldataload(add(entry, 0x60))
            vs := calldataload(add(entry, 0x80))
        }
        bytes32 digest = _hashVote(_domainSeparator(), round, weights, approve, score);
        if (_recover(digest, r, vs) != voter) revert BadVoteSignature(index);
    }

    /// @dev The EIP-712 digest of a `Vote` under `domainSeparator`.
    function _hashVote(bytes32 domainSeparator, uint256 round, bytes32 weights, bool approve, int64 score)
        private
        pure
        returns (bytes32 digest)
    {
        bytes32 typehash = _VOTE_TYPEHASH;
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            mstore(add(ptr, 0x20), round)
            mstore(add(ptr, 0x40), weights)
            mstore(add(ptr, 0x60), approve)
            mstore(add(ptr, 0x80), signextend(7, score))
            let structHash := keccak256(ptr, 0xa0)
            mstore(ptr, 0x1901)
            mstore(add(ptr, 0x20), domainSeparator)
            mstore(add(ptr, 0x40), structHash)
            digest := keccak256(add(ptr, 0x1e), 0x42)
        }
    }

    /// @dev The signer of `digest` from the compact signature `(r, vs)`, or zero for a high-s
    ///      signature or one that recovers to nobody.
    function _recover(bytes32 digest, bytes32 r, bytes32 vs) private view returns (address signer) {
        uint256 s = uint256(vs) & ((uint256(1) << 255) - 1);
        if (s > _HALF_ORDER) return address(0);
        uint256 v = 27 + (uint256(vs) >> 255);
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, digest)
            mstore(add(ptr, 0x20), v)
            mstore(add(ptr, 0x40), r)
            mstore(add(ptr, 0x60), s)
            mstore(0, 0)
            pop(staticcall(gas(), 1, ptr, 0x80, 0, 0x20))
            signer := mload(0)
        }
    }

    function _domainSeparator() private view returns (bytes32) {
        return block.chainid == _deployedChainId ? _deployedDomainSeparator : _buildDomainSeparator();
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
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
