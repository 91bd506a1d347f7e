// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title MeterAgreements
/// @notice A registry of pay-per-use agreements that verifies signed meter records and period
///         statements on-chain (docs/meter-record.md), prices billing periods with the tariff
///         in fixed-point integers (docs/tariffs.md, `fixedPoint.ts` line for line) and settles
///         them in an ERC-20 token from a prepaid balance or as an amount due.
///
/// One contract serves many agreements: each is keyed by `key = keccak256(utf8(agreementId))`,
/// which is also the `salt` of its EIP-712 domain, so a record signed for one agreement never
/// verifies for another, nor on another chain or contract. docs/evm.md explains the design.
///
/// Records: the contract rebuilds the constant and chained fields of every record (version,
/// machine, channel, unit, basis from the terms; seq, prevHash, periodStart from the stored
/// head) so calldata carries only what varies; a record signed over anything else fails its
/// signature. Only running totals are stored, at checkpoints (ends of submissions), so a
/// batch of records costs one signature check and one event per record, plus a few slots.
contract MeterAgreements {
    // ───────────────────────────────── types ─────────────────────────────────

    enum Status {
        None,
        Active,
        Suspended
    }

    /// @notice A record as submitted: the fields that vary per record, and its signature
    ///         (EIP-2098 compact `r`, `yParityAndS`).
    struct RecordInput {
        uint64 periodEnd;
        uint128 quantity;
        uint128 registerStart;
        uint128 registerEnd;
        uint16 flags;
        uint8 clock;
        uint32 quarantined;
        bytes32 extrasHash;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice The preimage of a record's `extrasHash` when its OEE elements matter (SLA
    ///         tariffs): `quantitiesHash` is the EIP-712 array hash of the further quantities
    ///         (`keccak256("")` when none); `hasOee` false means an empty `oee` array.
    struct ExtrasInput {
        bytes32 quantitiesHash;
        bool hasOee;
        uint64 plannedBusyTime;
        uint64 actualProductionTime;
        bytes8 unit;
        uint128 produced;
        uint128 good;
    }

    /// @notice A period statement as submitted; version, machine, unit and basis come from the
    ///         agreement's terms.
    struct StatementInput {
        bytes32 channel;
        uint64 periodStart;
        uint64 periodEnd;
        uint64 firstSeq;
        uint64 lastSeq;
        bytes32 startHash;
        bytes32 headHash;
        uint128 total;
        uint128 registerStart;
        uint128 registerEnd;
        uint16 flags;
        uint64 plannedBusyTime;
        uint64 actualProductionTime;
        uint32 gapRecords;
        uint32 quarantined;
        bytes32 extrasHash;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice One tariff tier in fixed point: `upTo` in quantity units (inclusive;
    ///         `type(uint120).max` = unbounded), `unitPrice` in price units per whole unit.
    struct Tier {
        uint120 upTo;
        uint136 unitPrice;
    }

    /// @notice A tariff in fixed point, as `toFixedTariff` produces it (docs/tariffs.md).
    struct TariffInput {
        uint8 priceDecimals;
        uint8 roundingDecimals;
        bool halfUp;
        bool volume;
        uint128 includedVolume;
        uint128 baseFee;
        uint128 minimumCommitment;
        bool hasSla;
        uint64 slaThreshold;
        uint64 slaStep;
        uint64 slaCreditPerStep;
        uint64 slaCap;
        bool slaStartedSteps;
        bool slaMaxCreditWhenUndefined;
        Tier[] tiers;
    }

    /// @notice An allowed record signer and the record times it may sign (Unix ms,
    ///         `validFrom <= t < validUntil`, `validUntil = 0`: open-ended).
    struct SignerInput {
        address signer;
        uint64 validFrom;
        uint64 validUntil;
    }

    /// @notice Terms of an agreement, as `openAgreement` takes them.
    struct AgreementInput {
        address provider;
        address customer;
        address token;
        uint8 currencyDecimals;
        uint8 overdraft; // 0 invoiced terms (a due amount is normal), 1 suspend, 2 accrue debt
        bytes32 machine; // keccak256(utf8(machineId))
        bytes8 unit;
        uint8 basis;
        uint64 start; // Unix ms
        uint64 end; // Unix ms, 0 = open-ended
        SignerInput[] signers;
        TariffInput tariff;
    }

    /// @dev Terms read by every submission.
    struct Terms {
        address provider; // slot 0
        uint64 start;
        Status status;
        uint8 overdraft;
        uint8 currencyDecimals;
        address customer; // slot 1
        uint64 end;
        address token; // slot 2
        bytes8 unit;
        uint8 basis;
        bytes32 machine; // slot 3
    }

    /// @dev The record chain head and how far the agreement is settled: one slot.
    struct Head {
        uint64 nextSeq;
        uint64 lastPeriodEnd; // 0 before the first record
        uint64 firstPeriodStart; // start of the first record (or statement)
        uint64 settledUntil; // periods settle in order: the next starts here or later
    }

    /// @dev Running totals since the first record: one slot.
    struct Cum {
        uint128 usage;
        uint64 plannedBusyTime;
        uint64 actualProductionTime;
    }

    /// @dev The running totals and chain position at the end of a submission (Unix ms key):
    ///      the points a period can be settled between without storing every record.
    struct Checkpoint {
        uint128 usage;
        uint48 plannedBusyTime;
        uint48 actualProductionTime;
        uint32 seqPlusOne; // next seq + 1; 0 = no checkpoint here
        bytes32 headHash;
    }

    struct TariffStore {
        uint8 priceDecimals; // slot 0
        uint8 roundingDecimals;
        bool halfUp;
        bool volume;
        bool hasSla;
        bool slaStartedSteps;
        bool slaMaxCreditWhenUndefined;
        uint8 tierCount;
        uint128 includedVolume;
        uint128 baseFee; // slot 1
        uint128 minimumCommitment;
        uint64 slaThreshold; // slot 2
        uint64 slaStep;
        uint64 slaCreditPerStep;
        uint64 slaCap;
    }

    struct Funds {
        uint128 available;
        uint128 due;
    }

    /// @notice The charge of one period, every amount in token base units (docs/tariffs.md).
    struct Charge {
        uint256 included;
        uint256 billable;
        uint256 usageAmount;
        uint256 baseFee;
        uint256 minimumTopUp;
        uint256 periodCharge;
        uint256 shortfallSteps;
        uint256 creditRate;
        uint256 slaCredit;
        uint256 total;
    }

    // ─────────────────────────────── constants ───────────────────────────────

    /// @notice Quantities (records, tiers, included volume) carry 9 decimals (record format v1).
    uint8 public constant QUANTITY_DECIMALS = 9;
    uint256 private constant RATIO_ONE = 1e18;
    uint120 private constant UNBOUNDED = type(uint120).max;

    bytes32 private constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)"
    );
    bytes32 private constant NAME_HASH = keccak256("maaskit");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 public constant METER_RECORD_TYPEHASH = keccak256(
        "MeterRecord(uint16 version,bytes32 machine,bytes32 channel,uint64 seq,uint64 periodStart,uint64 periodEnd,bytes32 prevHash,bytes8 unit,uint8 basis,uint128 quantity,uint128 registerStart,uint128 registerEnd,uint16 flags,uint8 clock,uint32 quarantined,bytes32 extrasHash)"
    );
    bytes32 public constant PERIOD_STATEMENT_TYPEHASH = keccak256(
        "PeriodStatement(uint16 version,bytes32 machine,bytes32 channel,uint64 periodStart,uint64 periodEnd,uint64 firstSeq,uint64 lastSeq,bytes32 startHash,bytes32 headHash,bytes8 unit,uint8 basis,uint128 total,uint128 registerStart,uint128 registerEnd,uint16 flags,uint64 plannedBusyTime,uint64 actualProductionTime,uint32 gapRecords,uint32 quarantined,bytes32 extrasHash)"
    );
    bytes32 public constant METER_EXTRAS_TYPEHASH = keccak256(
        "MeterExtras(MeterQuantity[] quantities,MeterOee[] oee)MeterOee(uint64 plannedBusyTime,uint64 actualProductionTime,bytes8 unit,uint128 produced,uint128 good)MeterQuantity(string channel,bytes8 unit,uint8 basis,uint128 value,uint128 registerStart,uint128 registerEnd,uint16 flags)"
    );
    bytes32 public constant METER_OEE_TYPEHASH = keccak256(
        "MeterOee(uint64 plannedBusyTime,uint64 actualProductionTime,bytes8 unit,uint128 produced,uint128 good)"
    );
    bytes32 private constant EMPTY_ARRAY_HASH = keccak256("");
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    bytes32 private constant S_MASK = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;

    // ──────────────────────────────── storage ────────────────────────────────

    mapping(bytes32 => Terms) private terms;
    mapping(bytes32 => TariffStore) private tariffs;
    mapping(bytes32 => mapping(uint256 => Tier)) private tiers;
    mapping(bytes32 => mapping(address => uint256)) private signerValidity; // validFrom | validUntil << 64
    mapping(bytes32 => Head) private heads;
    mapping(bytes32 => bytes32) private headHashes;
    mapping(bytes32 => Cum) private cums;
    mapping(bytes32 => mapping(uint64 => Checkpoint)) private checkpoints;
    mapping(bytes32 => Checkpoint) private settledPoints; // the checkpoint at `settledUntil`
    mapping(bytes32 => Funds) private funds;
    mapping(bytes32 => uint256) private paid;
    mapping(bytes32 => mapping(bytes32 => bool)) private usedReferences;

    bool private transient locked;

    // ───────────────────────────────── events ────────────────────────────────

    event AgreementOpened(
        bytes32 indexed key,
        string agreementId,
        address indexed provider,
        address indexed customer,
        address token,
        bytes32 machine,
        uint64 start,
        uint64 end
    );
    event SignerAllowed(bytes32 indexed key, address indexed signer, uint64 validFrom, uint64 validUntil);
    event RecordAccepted(bytes32 indexed key, uint64 seq, uint64 periodStart, uint64 periodEnd, bytes32 recordHash);
    /// @param firstSeq,lastSeq both `type(uint64).max` when the period had no records
    event PeriodSettled(
        bytes32 indexed key,
        uint64 periodStart,
        uint64 periodEnd,
        bool fromStatement,
        uint64 firstSeq,
        uint64 lastSeq,
        bytes32 headHash,
        uint256 usage,
        uint256 total,
        uint256 paidFromBalance,
        uint256 amountDue
    );
    event FundsDeposited(
        bytes32 indexed key,
        address indexed from,
        uint256 amount,
        uint256 appliedToDue,
        uint256 available,
        uint256 due,
        bytes32 ref
    );
    event FundsWithdrawn(bytes32 indexed key, address indexed to, uint256 amount, uint256 available, bytes32 ref);
    event Overdraft(bytes32 indexed key, uint64 periodStart, uint256 shortfall, uint256 due, bool suspend);
    event AgreementSuspended(bytes32 indexed key);
    event AgreementResumed(bytes32 indexed key);

    // ───────────────────────────────── errors ────────────────────────────────

    error AgreementExists(bytes32 key);
    error UnknownAgreement(bytes32 key);
    error InvalidTerms(string reason);
    error NotAuthorized(bytes32 key, address caller);
    error SeqMismatch(uint64 expected, uint64 actual);
    error PeriodOverlap(uint64 expectedStart, uint64 actualStart);
    error PeriodGap(uint64 expectedStart, uint64 actualStart);
    error EmptyPeriod(uint64 seq);
    error OutsideTerm(uint64 seq);
    error UnknownSigner(uint64 seq, address recovered);
    error ExtrasRequired();
    error ExtrasMismatch(uint64 seq);
    error InvalidPeriod(uint64 start, uint64 end);
    error PeriodIncomplete(uint64 periodEnd, uint64 recordsUntil);
    error PeriodAlreadySettled(uint64 start, uint64 settledUntil);
    error NoCheckpoint(uint64 instant);
    error StatementMismatch(string field);
    error StatementSigner(address recovered);
    error InvalidAmount();
    error InsufficientFunds(uint256 available, uint256 requested);
    error DuplicateReference(bytes32 ref);
    error TokenTransferFailed(address token);
    error Overflow();
    error Reentrancy();

    modifier nonReentrant() {
        if (locked) revert Reentrancy();
        locked = true;
        _;
        locked = false;
    }

    // ────────────────────────────── agreements ───────────────────────────────

    /// @notice Opens an agreement. Provider or customer only; the id is bound for good.
    function openAgreement(string calldata agreementId, AgreementInput calldata a) external {
        bytes32 key = keccak256(bytes(agreementId));
        if (terms[key].status != Status.None) revert AgreementExists(key);
        if (msg.sender != a.provider && msg.sender != a.customer) revert NotAuthorized(key, msg.sender);
        _checkTerms(a);
        terms[key] = Terms({
            provider: a.provider,
            start: a.start,
            status: Status.Active,
            overdraft: a.overdraft,
            currencyDecimals: a.currencyDecimals,
            customer: a.customer,
            end: a.end,
            token: a.token,
            unit: a.unit,
            basis: a.basis,
            machine: a.machine
        });
        _storeTariff(key, a.tariff, a.currencyDecimals);
        for (uint256 i = 0; i < a.signers.length; i++) {
            SignerInput calldata s = a.signers[i];
            if (s.signer == address(0) || (s.validUntil != 0 && s.validUntil <= s.validFrom)) {
                revert InvalidTerms("signers");
            }
            signerValidity[key][s.signer] = uint256(s.validFrom) | (uint256(s.validUntil) << 64);
            emit SignerAllowed(key, s.signer, s.validFrom, s.validUntil);
        }
        emit AgreementOpened(key, agreementId, a.provider, a.customer, a.token, a.machine, a.start, a.end);
    }

    /// @notice Allows another record signer (key rotation) from now on. Provider only; the
    ///         window cannot start in the past, so no key can sign history retroactively.
    function allowSigner(bytes32 key, address signer, uint64 validFrom, uint64 validUntil) external {
        Terms storage t = _terms(key);
        if (msg.sender != t.provider) revert NotAuthorized(key, msg.sender);
        if (signer == address(0) || validFrom < block.timestamp * 1000 || (validUntil != 0 && validUntil <= validFrom)) {
            revert InvalidTerms("signer");
        }
        signerValidity[key][signer] = uint256(validFrom) | (uint256(validUntil) << 64);
        emit SignerAllowed(key, signer, validFrom, validUntil);
    }

    /// @notice Ends a signer's window now (a compromised or retired key). Provider or customer.
    function revokeSigner(bytes32 key, address signer) external {
        Terms storage t = _terms(key);
        if (msg.sender != t.provider && msg.sender != t.customer) revert NotAuthorized(key, msg.sender);
        uint256 v = signerValidity[key][signer];
        if (v == 0) revert InvalidTerms("signer");
        uint64 from = uint64(v);
        uint64 until = uint64(v >> 64);
        uint64 nowMs = uint64(block.timestamp * 1000);
        if (until == 0 || until > nowMs) until = nowMs > from ? nowMs : from + 1;
        signerValidity[key][signer] = uint256(from) | (uint256(until) << 64);
        emit SignerAllowed(key, signer, from, until);
    }

    // ──────────────────────────────── records ────────────────────────────────

    /// @notice Accepts a contiguous run of signed records continuing the agreement's chain
    ///         (`firstSeq` = next seq). Anyone may relay: the signatures are the authority.
    ///         `channel` is keccak256 of the records' billed channel; `firstPeriodStart` is the
    ///         first record's `periodStart` (later ones start where the previous one ended). `checkpoint` stores the running totals at the run's
    ///         end, so a period can be settled from the records up to there. Not for SLA
    ///         tariffs: they need `submitRecordsWithExtras`.
    function submitRecords(
        bytes32 key,
        bytes32 channel,
        uint64 firstSeq,
        uint64 firstPeriodStart,
        RecordInput[] calldata records,
        bool checkpoint
    ) external {
        if (tariffs[key].hasSla) revert ExtrasRequired();
        _submit(key, channel, firstSeq, firstPeriodStart, records, new ExtrasInput[](0), checkpoint);
    }

    /// @notice Like `submitRecords`, with the preimage of every record's `extrasHash`, so the
    ///         OEE time elements the SLA needs are verified and summed on-chain.
    function submitRecordsWithExtras(
        bytes32 key,
        bytes32 channel,
        uint64 firstSeq,
        uint64 firstPeriodStart,
        RecordInput[] calldata records,
        ExtrasInput[] calldata extras,
        bool checkpoint
    ) external {
        if (extras.length != records.length) revert ExtrasRequired();
        _submit(key, channel, firstSeq, firstPeriodStart, records, extras, checkpoint);
    }

    function _submit(
        bytes32 key,
        bytes32 channel,
        uint64 firstSeq,
        uint64 periodStart,
        RecordInput[] calldata records,
        ExtrasInput[] memory extras,
        bool checkpoint
    ) private {
        Terms storage t = _terms(key);
        Head memory h = heads[key];
        if (firstSeq != h.nextSeq) revert SeqMismatch(h.nextSeq, firstSeq);
        if (h.nextSeq == 0) {
            if (periodStart < t.start) revert OutsideTerm(firstSeq);
            h.firstPeriodStart = periodStart;
        } else if (periodStart < h.lastPeriodEnd) {
            revert PeriodOverlap(h.lastPeriodEnd, periodStart);
        } else if (periodStart > h.lastPeriodEnd) {
            revert PeriodGap(h.lastPeriodEnd, periodStart);
        }
        bytes32 prevHash = headHashes[key];
        Cum memory cum = cums[key];
        // A statement settled up to the head: keep that point before the head moves on.
        if (h.nextSeq != 0 && h.settledUntil == h.lastPeriodEnd) {
            settledPoints[key] = _point(cum, h.nextSeq, prevHash);
        }
        bytes32 domain = _domainSeparator(key);
        // Constant fields of every record of this agreement.
        bytes32 machine = t.machine;
        bytes8 unit = t.unit;
        uint8 basis = t.basis;
        uint64 end = t.end;
        bool withExtras = extras.length != 0;
        address lastSigner;
        uint256 validity;
        uint64 seq = firstSeq;
        uint256 n = records.length;
        for (uint256 i = 0; i < n; i++) {
            RecordInput calldata r = records[i];
            uint64 periodEnd = r.periodEnd;
            if (periodEnd <= periodStart) revert EmptyPeriod(seq);
            if (end != 0 && periodEnd > end) revert OutsideTerm(seq);
            bytes32 extrasHash = r.extrasHash;
            if (withExtras) {
                ExtrasInput memory x = extras[i];
                if (_extrasHash(x) != extrasHash) revert ExtrasMismatch(seq);
                if (x.hasOee) {
                    cum.plannedBusyTime += x.plannedBusyTime;
                    cum.actualProductionTime += x.actualProductionTime;
                }
            }
            bytes32 digest = _recordDigest(
                domain, machine, channel, seq, periodStart, periodEnd, prevHash, unit, basis, r, extrasHash
            );
            address signer = _recover(digest, r.r, r.vs);
            // The records of one run usually share a signer: look its window up once.
            if (signer != lastSigner || i == 0) {
                lastSigner = signer;
                validity = signer == address(0) ? 0 : signerValidity[key][signer];
            }
            if (!_validAt(validity, periodEnd)) revert UnknownSigner(seq, signer);
            cum.usage += r.quantity;
            emit RecordAccepted(key, seq, periodStart, periodEnd, digest);
            prevHash = digest;
            periodStart = periodEnd;
            unchecked {
                seq++;
            }
        }
        h.nextSeq = seq;
        h.lastPeriodEnd = periodStart;
        heads[key] = h;
        headHashes[key] = prevHash;
        cums[key] = cum;
        if (checkpoint) _checkpoint(key, periodStart, cum, seq, prevHash);
    }

    function _checkpoint(bytes32 key, uint64 instant, Cum memory cum, uint64 nextSeq, bytes32 headHash) private {
        checkpoints[key][instant] = _point(cum, nextSeq, headHash);
    }

    function _point(Cum memory cum, uint64 nextSeq, bytes32 headHash) private pure returns (Checkpoint memory) {
        if (nextSeq >= type(uint32).max || cum.plannedBusyTime > type(uint48).max) revert Overflow();
        return Checkpoint({
            usage: cum.usage,
            plannedBusyTime: uint48(cum.plannedBusyTime),
            actualProductionTime: uint48(cum.actualProductionTime),
            seqPlusOne: uint32(nextSeq + 1),
            headHash: headHash
        });
    }

    /// @dev The running totals at `instant`: zero before the first record; the head itself;
    ///      the settled point; or a stored checkpoint (end of a submission).
    function _checkpointAt(bytes32 key, Head memory h, uint64 instant) private view returns (Checkpoint memory c) {
        if (h.nextSeq == 0 || instant <= h.firstPeriodStart) return Checkpoint(0, 0, 0, 1, bytes32(0));
        if (instant == h.lastPeriodEnd) return _point(cums[key], h.nextSeq, headHashes[key]);
        if (instant == h.settledUntil) return settledPoints[key];
        c = checkpoints[key][instant];
        if (c.seqPlusOne == 0) revert NoCheckpoint(instant);
    }

    // ─────────────────────────────── settlement ──────────────────────────────

    /// @notice Settles `[start, end)` from the records accepted on-chain: both ends must be
    ///         checkpoints (ends of submissions), or lie before the first record. Provider or
    ///         customer: the contract does not know the billing calendar, the parties do.
    function settlePeriod(bytes32 key, uint64 start, uint64 end) external nonReentrant {
        Terms storage t = _terms(key);
        if (msg.sender != t.provider && msg.sender != t.customer) revert NotAuthorized(key, msg.sender);
        Head memory h = heads[key];
        _checkPeriod(h, start, end);
        if (h.lastPeriodEnd < end) revert PeriodIncomplete(end, h.lastPeriodEnd);
        Checkpoint memory a = _checkpointAt(key, h, start);
        Checkpoint memory b = _checkpointAt(key, h, end);
        heads[key].settledUntil = end;
        if (end != h.lastPeriodEnd) settledPoints[key] = b;
        bool any = b.seqPlusOne > a.seqPlusOne;
        _settle(
            key,
            t,
            start,
            end,
            false,
            any ? a.seqPlusOne - 1 : type(uint64).max,
            any ? b.seqPlusOne - 2 : type(uint64).max,
            b.headHash,
            b.usage - a.usage,
            uint64(b.plannedBusyTime - a.plannedBusyTime),
            uint64(b.actualProductionTime - a.actualProductionTime)
        );
    }

    /// @notice Settles a period from a signed `PeriodStatement` — one signature check for the
    ///         whole period. The statement either continues the record chain (`firstSeq` =
    ///         next seq, `startHash` = head; the head moves to its `headHash`), or says exactly
    ///         what the records already accepted between two checkpoints say. Anyone may relay.
    function settleStatement(bytes32 key, StatementInput calldata s) external nonReentrant {
        Terms storage t = _terms(key);
        Head memory h = heads[key];
        if (s.lastSeq < s.firstSeq) revert StatementMismatch("seq");
        address signer = _recover(_statementDigest(key, t, s), s.r, s.vs);
        if (!_validAt(signer == address(0) ? 0 : signerValidity[key][signer], s.periodEnd)) {
            revert StatementSigner(signer);
        }
        _checkPeriod(h, s.periodStart, s.periodEnd);
        if (s.firstSeq == h.nextSeq) {
            // Continues the chain: the ledger takes the statement's head.
            if (headHashes[key] != s.startHash) revert StatementMismatch("startHash");
            if (h.nextSeq == 0) {
                if (s.periodStart < t.start) revert OutsideTerm(s.firstSeq);
                h.firstPeriodStart = s.periodStart;
            } else if (s.periodStart != h.lastPeriodEnd) {
                revert StatementMismatch("periodStart");
            }
            if (t.end != 0 && s.periodEnd > t.end) revert OutsideTerm(s.lastSeq);
            Cum memory cum = cums[key];
            cum.usage += s.total;
            cum.plannedBusyTime += s.plannedBusyTime;
            cum.actualProductionTime += s.actualProductionTime;
            h.nextSeq = s.lastSeq + 1;
            h.lastPeriodEnd = s.periodEnd;
            cums[key] = cum;
            headHashes[key] = s.headHash;
            // No checkpoint: the settled point is the head now (see `_checkpointAt`).
        } else if (s.lastSeq < h.nextSeq) {
            // Covers records already accepted: every settled figure must match them.
            Checkpoint memory a = _checkpointAt(key, h, s.periodStart);
            Checkpoint memory b = _checkpointAt(key, h, s.periodEnd);
            if (
                a.seqPlusOne != s.firstSeq + 1 || b.seqPlusOne != s.lastSeq + 2 || a.headHash != s.startHash
                    || b.headHash != s.headHash || b.usage - a.usage != s.total
                    || b.plannedBusyTime - a.plannedBusyTime != s.plannedBusyTime
                    || b.actualProductionTime - a.actualProductionTime != s.actualProductionTime
            ) revert StatementMismatch("records");
        } else {
            revert StatementMismatch("seq");
        }
        h.settledUntil = s.periodEnd;
        heads[key] = h;
        _settle(
            key,
            t,
            s.periodStart,
            s.periodEnd,
            true,
            s.firstSeq,
            s.lastSeq,
            s.headHash,
            s.total,
            s.plannedBusyTime,
            s.actualProductionTime
        );
    }

    function _checkPeriod(Head memory h, uint64 start, uint64 end) private pure {
        if (end <= start) revert InvalidPeriod(start, end);
        if (start < h.settledUntil) revert PeriodAlreadySettled(start, h.settledUntil);
    }

    function _settle(
        bytes32 key,
        Terms storage t,
        uint64 periodStart,
        uint64 periodEnd,
        bool fromStatement,
        uint64 firstSeq,
        uint64 lastSeq,
        bytes32 headHash,
        uint256 usage,
        uint64 pbt,
        uint64 apt
    ) private {
        uint256 total = _price(key, usage, pbt, apt).total;
        Funds memory f = funds[key];
        uint256 fromBalance = total < f.available ? total : f.available;
        uint256 shortfall = total - fromBalance;
        f.available -= uint128(fromBalance);
        f.due = _u128(uint256(f.due) + shortfall);
        funds[key] = f;
        if (fromBalance > 0) paid[key] += fromBalance;
        emit PeriodSettled(
            key, periodStart, periodEnd, fromStatement, firstSeq, lastSeq, headHash, usage, total, fromBalance, shortfall
        );
        uint8 overdraft = t.overdraft;
        if (shortfall > 0 && overdraft != 0) {
            emit Overdraft(key, periodStart, shortfall, f.due, overdraft == 1);
            if (overdraft == 1 && t.status == Status.Active) {
                t.status = Status.Suspended;
                emit AgreementSuspended(key);
            }
        }
        if (fromBalance > 0) _push(t.token, t.provider, fromBalance);
    }

    // ───────────────────────────────── funds ─────────────────────────────────

    /// @notice Pays `amount` in (anyone, e.g. the customer or its treasury): it clears the
    ///         amount due first (paid on to the provider), the rest tops up the prepaid balance.
    ///         A non-zero `ref` applies once (idempotency key).
    function deposit(bytes32 key, uint256 amount, bytes32 ref) external nonReentrant {
        Terms storage t = _terms(key);
        if (amount == 0) revert InvalidAmount();
        _useReference(key, ref);
        Funds memory f = funds[key];
        uint256 toDue = amount < f.due ? amount : f.due;
        f.due -= uint128(toDue);
        f.available = _u128(uint256(f.available) + amount - toDue);
        funds[key] = f;
        if (toDue > 0) paid[key] += toDue;
        emit FundsDeposited(key, msg.sender, amount, toDue, f.available, f.due, ref);
        if (f.due == 0 && t.status == Status.Suspended) {
            t.status = Status.Active;
            emit AgreementResumed(key);
        }
        address token = t.token;
        _pull(token, msg.sender, amount);
        if (toDue > 0) _push(token, t.provider, toDue);
    }

    /// @notice Pays unused prepaid funds back to the customer. Customer only.
    function withdraw(bytes32 key, uint256 amount, bytes32 ref) external nonReentrant {
        Terms storage t = _terms(key);
        if (msg.sender != t.customer) revert NotAuthorized(key, msg.sender);
        if (amount == 0) revert InvalidAmount();
        uint128 available = funds[key].available;
        if (amount > available) revert InsufficientFunds(available, amount);
        _useReference(key, ref);
        available -= uint128(amount);
        funds[key].available = available;
        emit FundsWithdrawn(key, msg.sender, amount, available, ref);
        _push(t.token, msg.sender, amount);
    }

    function _useReference(bytes32 key, bytes32 ref) private {
        if (ref == bytes32(0)) return;
        if (usedReferences[key][ref]) revert DuplicateReference(ref);
        usedReferences[key][ref] = true;
    }

    // ───────────────────────────────── reads ─────────────────────────────────

    /// @notice The stored terms of an agreement (status `None` when unknown).
    function agreementTerms(bytes32 key) external view returns (Terms memory) {
        return terms[key];
    }

    /// @notice The fixed-point tariff of an agreement and its tiers.
    function agreementTariff(bytes32 key) external view returns (TariffStore memory t, Tier[] memory ts) {
        t = tariffs[key];
        ts = new Tier[](t.tierCount);
        for (uint256 i = 0; i < ts.length; i++) {
            ts[i] = tiers[key][i];
        }
    }

    /// @notice The record chain head and how far the agreement is settled.
    function recordsHead(bytes32 key) external view returns (Head memory head, bytes32 headHash) {
        return (heads[key], headHashes[key]);
    }

    /// @notice The checkpoint at `at` (Unix ms); `seqPlusOne = 0` when there is none.
    function checkpointAt(bytes32 key, uint64 instant) external view returns (Checkpoint memory) {
        return checkpoints[key][instant];
    }

    /// @notice Prepaid balance, amount due and everything paid to the provider (token base units).
    function balances(bytes32 key) external view returns (uint256 available, uint256 due, uint256 paidToProvider) {
        Funds memory f = funds[key];
        return (f.available, f.due, paid[key]);
    }

    /// @notice Whether a funds reference (keccak256 of its text) was used.
    function referenceUsed(bytes32 key, bytes32 ref) external view returns (bool) {
        return usedReferences[key][ref];
    }

    /// @notice The signer window `(validFrom, validUntil)`; `(0, 0)` when never allowed.
    function signerWindow(bytes32 key, address signer) external view returns (uint64 validFrom, uint64 validUntil) {
        uint256 v = signerValidity[key][signer];
        return (uint64(v), uint64(v >> 64));
    }

    /// @notice Prices usage under an agreement's tariff without settling (what a period would cost).
    function quote(bytes32 key, uint256 usage, uint64 plannedBusyTime, uint64 actualProductionTime)
        external
        view
        returns (Charge memory)
    {
        _terms(key);
        return _price(key, usage, plannedBusyTime, actualProductionTime);
    }

    /// @notice The EIP-712 domain separator of an agreement's records and statements.
    function domainSeparator(bytes32 key) external view returns (bytes32) {
        return _domainSeparator(key);
    }

    // ──────────────────────────────── pricing ────────────────────────────────

    /// @dev `priceUsageFixed` of fixedPoint.ts, line for line. Quantities have 9 decimals.
    function _price(bytes32 key, uint256 usage, uint64 pbt, uint64 apt) private view returns (Charge memory c) {
        TariffStore memory t = tariffs[key];
        uint8 cd = terms[key].currencyDecimals;
        uint8 rd = t.roundingDecimals;
        bool halfUp = t.halfUp;
        uint256 productDecimals = uint256(QUANTITY_DECIMALS) + t.priceDecimals;

        // 1. Included volume first.
        uint256 incl = t.includedVolume;
        c.included = usage < incl ? usage : incl;
        c.billable = usage - c.included;

        // 2. Tiers; `upTo` is inclusive.
        mapping(uint256 => Tier) storage ts = tiers[key];
        if (t.volume) {
            uint256 i = 0;
            Tier memory tier = ts[0];
            while (tier.upTo != UNBOUNDED && c.billable > tier.upTo) {
                i++;
                tier = ts[i];
            }
            c.usageAmount = _money(c.billable, tier.unitPrice, productDecimals, rd, cd, halfUp);
        } else {
            uint256 lower = 0;
            uint256 n = t.tierCount;
            for (uint256 i = 0; i < n; i++) {
                Tier memory tier = ts[i];
                uint256 upper = tier.upTo == UNBOUNDED || c.billable < tier.upTo ? c.billable : tier.upTo;
                if (upper > lower) {
                    c.usageAmount += _money(upper - lower, tier.unitPrice, productDecimals, rd, cd, halfUp);
                }
                if (tier.upTo == UNBOUNDED || c.billable <= tier.upTo) break;
                lower = tier.upTo;
            }
        }

        // 3. Base fee; 4. minimum commitment against the usage amount only.
        c.baseFee = _money(t.baseFee, 1, t.priceDecimals, rd, cd, halfUp);
        uint256 minimum = _money(t.minimumCommitment, 1, t.priceDecimals, rd, cd, halfUp);
        c.minimumTopUp = minimum > c.usageAmount ? minimum - c.usageAmount : 0;
        c.periodCharge = c.usageAmount + c.baseFee + c.minimumTopUp;

        // 5. SLA: availability = APT / PBT compared as APT·10^18 < threshold·PBT (no division).
        if (t.hasSla) {
            if (pbt == 0) {
                if (t.slaMaxCreditWhenUndefined) c.creditRate = t.slaCap;
            } else {
                uint256 target = uint256(t.slaThreshold) * pbt;
                uint256 actual = uint256(apt) * RATIO_ONE;
                if (actual < target) {
                    uint256 num = target - actual;
                    uint256 den = uint256(t.slaStep) * pbt;
                    c.shortfallSteps = t.slaStartedSteps ? (num + den - 1) / den : num / den;
                    uint256 rate = c.shortfallSteps * t.slaCreditPerStep;
                    c.creditRate = rate < t.slaCap ? rate : t.slaCap;
                }
            }
            // periodCharge has currency decimals; × rate (18 decimals) → rounded once.
            c.slaCredit = _money(c.periodCharge, c.creditRate, uint256(cd) + 18, rd, cd, halfUp);
        }
        c.total = c.periodCharge - c.slaCredit;
    }

    /// @dev `a·b` (an amount with `decimals` decimals) rounded at `rd` decimals, in currency base
    ///      units (`cd` decimals): `rescale(a·b, decimals, rd) · 10^(cd − rd)`, exact in 512 bits.
    function _money(uint256 a, uint256 b, uint256 decimals, uint8 rd, uint8 cd, bool halfUp)
        private
        pure
        returns (uint256)
    {
        uint256 x;
        if (rd >= decimals) {
            x = a * b * 10 ** (rd - decimals);
        } else {
            x = _mulDivRound(a, b, 10 ** (decimals - rd), halfUp);
        }
        return x * 10 ** (cd - rd);
    }

    /// @dev `a·b/d` rounded half-even (or half-up), with a 512-bit product.
    function _mulDivRound(uint256 a, uint256 b, uint256 d, bool halfUp) private pure returns (uint256 q) {
        q = _mulDiv(a, b, d);
        uint256 r = mulmod(a, b, d);
        uint256 rest = d - r; // 2r > d ⇔ r > d − r
        if (r > rest || (r == rest && (halfUp || q % 2 == 1))) q += 1;
    }

    /// @dev floor(a·b/d) for a 512-bit `a·b`; reverts if the result does not fit 256 bits.
    function _mulDiv(uint256 a, uint256 b, uint256 d) private pure returns (uint256 result) {
        unchecked {
            // The product as two 256-bit words: p1·2^256 + p0 (Chinese remainder trick).
            uint256 p0 = a * b;
            uint256 mm = mulmod(a, b, type(uint256).max);
            uint256 p1 = mm - p0 - (mm < p0 ? 1 : 0);
            if (p1 == 0) return p0 / d;
            if (d <= p1) revert Overflow();
            // Make the division exact by removing the remainder.
            uint256 rem = mulmod(a, b, d);
            p1 -= rem > p0 ? 1 : 0;
            p0 -= rem;
            // Divide out the largest power of two in d.
            uint256 twos = d & (0 - d);
            d /= twos;
            p0 /= twos;
            // Shift the high word's bits into p0: flip = 2^256 / twos.
            uint256 flip = ((0 - twos) / twos) + 1;
            p0 |= p1 * flip;
            // d is odd now: its inverse mod 2^256 by Newton–Raphson (doubling correct bits).
            uint256 inv = (3 * d) ^ 2; // correct to 4 bits
            inv *= 2 - d * inv; // 8
            inv *= 2 - d * inv; // 16
            inv *= 2 - d * inv; // 32
            inv *= 2 - d * inv; // 64
            inv *= 2 - d * inv; // 128
            inv *= 2 - d * inv; // 256
            result = p0 * inv;
        }
    }

    // ─────────────────────────────── internals ───────────────────────────────

    function _terms(bytes32 key) private view returns (Terms storage t) {
        t = terms[key];
        if (t.status == Status.None) revert UnknownAgreement(key);
    }

    function _checkTerms(AgreementInput calldata a) private view {
        if (a.provider == address(0) || a.customer == address(0) || a.provider == a.customer) {
            revert InvalidTerms("parties");
        }
        if (a.token.code.length == 0) revert InvalidTerms("token");
        if (a.currencyDecimals > 36) revert InvalidTerms("currencyDecimals");
        if (a.end != 0 && a.end <= a.start) revert InvalidTerms("term");
        if (a.overdraft > 2) revert InvalidTerms("overdraft");
        if (a.signers.length == 0) revert InvalidTerms("signers");
    }

    function _storeTariff(bytes32 key, TariffInput calldata x, uint8 currencyDecimals) private {
        uint256 n = x.tiers.length;
        if (n == 0 || n > 255 || x.tiers[n - 1].upTo != UNBOUNDED) revert InvalidTerms("tiers");
        if (x.priceDecimals > 18 || x.roundingDecimals > currencyDecimals) revert InvalidTerms("decimals");
        if (x.hasSla && (x.slaStep == 0 || x.slaThreshold > RATIO_ONE || x.slaCap > RATIO_ONE)) {
            revert InvalidTerms("sla");
        }
        uint120 previous = 0;
        for (uint256 i = 0; i < n; i++) {
            Tier calldata tier = x.tiers[i];
            if (i + 1 < n && (tier.upTo == UNBOUNDED || tier.upTo <= previous)) revert InvalidTerms("tiers");
            previous = tier.upTo;
            tiers[key][i] = tier;
        }
        tariffs[key] = TariffStore({
            priceDecimals: x.priceDecimals,
            roundingDecimals: x.roundingDecimals,
            halfUp: x.halfUp,
            volume: x.volume,
            hasSla: x.hasSla,
            slaStartedSteps: x.slaStartedSteps,
            slaMaxCreditWhenUndefined: x.slaMaxCreditWhenUndefined,
            tierCount: uint8(n),
            includedVolume: x.includedVolume,
            baseFee: x.baseFee,
            minimumCommitment: x.minimumCommitment,
            slaThreshold: x.slaThreshold,
            slaStep: x.slaStep,
            slaCreditPerStep: x.slaCreditPerStep,
            slaCap: x.slaCap
        });
    }

    function _validAt(uint256 validity, uint64 time) private pure returns (bool) {
        if (validity == 0) return false;
        uint64 from = uint64(validity);
        uint64 until = uint64(validity >> 64);
        return time >= from && (until == 0 || time < until);
    }

    function _domainSeparator(bytes32 key) private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this), key));
    }

    /// @dev EIP-712 digest of a record; hashes in scratch memory that is reused per record, so a
    ///      batch does not grow memory (and its quadratic cost) with every record.
    function _recordDigest(
        bytes32 domain,
        bytes32 machine,
        bytes32 channel,
        uint64 seq,
        uint64 periodStart,
        uint64 periodEnd,
        bytes32 prevHash,
        bytes8 unit,
        uint8 basis,
        RecordInput calldata r,
        bytes32 extrasHash
    ) private pure returns (bytes32 digest) {
        bytes32 typeHash = METER_RECORD_TYPEHASH;
        assembly ("memory-safe") {
            let p := mload(0x40) // free memory, not reserved: nothing else allocates meanwhile
            mstore(p, typeHash)
            mstore(add(p, 0x20), 1) // version
            mstore(add(p, 0x40), machine)
            mstore(add(p, 0x60), channel)
            mstore(add(p, 0x80), seq)
            mstore(add(p, 0xa0), periodStart)
            mstore(add(p, 0xc0), periodEnd)
            mstore(add(p, 0xe0), prevHash)
            mstore(add(p, 0x100), unit)
            mstore(add(p, 0x120), basis)
            // quantity, registerStart, registerEnd, flags, clock, quarantined: calldata words 1–6
            calldatacopy(add(p, 0x140), add(r, 0x20), 0xc0)
            mstore(add(p, 0x200), extrasHash)
            let structHash := keccak256(p, 0x220)
            mstore(p, 0x1901000000000000000000000000000000000000000000000000000000000000)
            mstore(add(p, 0x02), domain)
            mstore(add(p, 0x22), structHash)
            digest := keccak256(p, 0x42)
        }
    }

    function _statementDigest(bytes32 key, Terms storage t, StatementInput calldata s) private view returns (bytes32) {
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(PERIOD_STATEMENT_TYPEHASH, uint16(1), t.machine, s.channel, s.periodStart, s.periodEnd),
                abi.encode(s.firstSeq, s.lastSeq, s.startHash, s.headHash, t.unit, t.basis, s.total),
                abi.encode(s.registerStart, s.registerEnd, s.flags, s.plannedBusyTime, s.actualProductionTime),
                abi.encode(s.gapRecords, s.quarantined, s.extrasHash)
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparator(key), structHash));
    }

    /// @dev hashStruct(MeterExtras) from its preimage; zero when there are no extras at all.
    function _extrasHash(ExtrasInput memory x) private pure returns (bytes32) {
        if (!x.hasOee && x.quantitiesHash == EMPTY_ARRAY_HASH) return bytes32(0);
        bytes32 oeeArray = EMPTY_ARRAY_HASH;
        if (x.hasOee) {
            bytes32 oee = keccak256(
                abi.encode(METER_OEE_TYPEHASH, x.plannedBusyTime, x.actualProductionTime, x.unit, x.produced, x.good)
            );
            oeeArray = keccak256(abi.encodePacked(oee));
        }
        return keccak256(abi.encode(METER_EXTRAS_TYPEHASH, x.quantitiesHash, oeeArray));
    }

    /// @dev ecrecover of an EIP-2098 compact signature; zero for a high-s (malleable) one.
    function _recover(bytes32 digest, bytes32 r, bytes32 vs) private view returns (address signer) {
        bytes32 s = vs & S_MASK;
        if (uint256(s) > HALF_N) return address(0);
        uint256 v = (uint256(vs) >> 255) + 27;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, digest)
            mstore(add(p, 0x20), v)
            mstore(add(p, 0x40), r)
            mstore(add(p, 0x60), s)
            mstore(0x00, 0)
            if iszero(staticcall(gas(), 0x01, p, 0x80, 0x00, 0x20)) { revert(0, 0) }
            signer := mload(0x00)
        }
    }

    function _u128(uint256 x) private pure returns (uint128) {
        if (x > type(uint128).max) revert Overflow();
        return uint128(x);
    }

    function _pull(address token, address from, uint256 amount) private {
        _call(token, abi.encodeWithSelector(0x23b872dd, from, address(this), amount)); // transferFrom
    }

    function _push(address token, address to, uint256 amount) private {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount)); // transfer
    }

    /// @dev Accepts tokens that return nothing (USDT-style) as well as `true`.
    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length != 0 && (ret.length < 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TokenTransferFailed(token);
        }
    }
}
