// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title MeterAgreements
/// @notice A registry of pay-per-use agreements that verifies signed meter records and period
///         statements on-chain (docs/meter-record.md), prices billing periods with the tariff
///         in fixed-point integers (docs/tariffs.md, `fixedPoint.ts` line for line) and settles
///         them in an ERC-20 token from a prepaid balance or as an amount due.
///
/// One contract serves many agreements. An agreement exists once both parties consented to
/// every term (`offerAgreement` by one, `acceptAgreement` by the other); it is keyed by
/// `key = keccak256(abi.encode(keccak256(utf8(agreementId)), provider, customer))`, so nobody
/// can take the id of someone else's agreement. Its EIP-712 domain's `salt` is
/// keccak256(utf8(agreementId)), so a record signed for one agreement never verifies for
/// another, nor on another chain or contract. The billing calendar is part of the terms:
/// periods settle one after the other, exactly as the calendar cuts them. docs/evm.md
/// explains the design and its threat model.
///
/// Records: the contract rebuilds the constant and chained fields of every record (version,
/// machine, channel, unit, basis from the terms; seq, prevHash, periodStart from the stored
/// head) so calldata carries only what varies; a record signed over anything else fails its
/// signature. Only running totals are stored, at the end of each billing period, so a batch
/// of records costs one signature check and one event per record, plus a few slots.
contract MeterAgreements is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

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

    /// @notice The billing calendar, fixed at open (docs/evm.md "Billing calendar"). Period
    ///         boundaries are `B(n)` for n = 0, 1, …; period 0 starts at the agreement's start
    ///         (`B(0) <= start < B(1)`), period p ends at `B(p + 1)`, the last one at `end`.
    ///         kind 1, calendar months in a time zone: `anchor` = year·12 + month − 1 of the
    ///         start's local month; `B(n)` = local midnight on the 1st of month anchor + n, i.e.
    ///         UTC midnight minus `offsets[month]` minutes (the zone's UTC offset at local
    ///         midnight on the 1st of that month, Jan..Dec — precomputed off-chain and checked
    ///         against the zone over the whole term). kind 2, fixed length: `B(n) = anchor +
    ///         n·length` (ms; `days` periods in a zone without DST).
    struct CalendarInput {
        uint8 kind;
        uint64 anchor;
        uint64 length;
        int16[12] offsets;
    }

    /// @notice Terms of an agreement, as `openAgreement` / `acceptAgreement` take them.
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
        CalendarInput calendar;
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
        bytes32 salt; // slot 4: keccak256(utf8(agreementId)), the EIP-712 domain salt
    }

    /// @dev The billing calendar as stored: two slots.
    struct Calendar {
        uint8 kind;
        uint64 anchor;
        uint64 length;
        uint192 offsets; // 12 × int16 minutes, January in the low bits
    }

    /// @dev The record chain head and the billing calendar's progress: one slot. `filled`
    ///      periods have records up to their end (a checkpoint each); `settled` periods are
    ///      settled, in order; `nextBoundary` is the end of period `filled` (max: none).
    struct Head {
        uint64 nextSeq;
        uint64 lastPeriodEnd; // 0 before the first record
        uint64 nextBoundary;
        uint32 filled;
        uint32 settled;
    }

    /// @dev Running totals since the first record: one slot.
    struct Cum {
        uint128 usage;
        uint64 plannedBusyTime;
        uint64 actualProductionTime;
    }

    /// @dev The running totals and chain position at the end of a billing period: what a
    ///      period is settled between, without storing every record.
    struct Checkpoint {
        uint128 usage;
        uint48 plannedBusyTime;
        uint48 actualProductionTime;
        uint32 seqPlusOne; // next seq + 1 at that point
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

    uint64 private constant NONE = type(uint64).max;

    // ──────────────────────────────── storage ────────────────────────────────

    mapping(bytes32 => Terms) private terms;
    mapping(bytes32 => Calendar) private calendars;
    mapping(bytes32 => TariffStore) private tariffs;
    mapping(bytes32 => mapping(uint256 => Tier)) private tiers;
    /// @dev validFrom | validUntil << 64 | (revoked at seq + 1) << 128
    mapping(bytes32 => mapping(address => uint256)) private signerValidity;
    mapping(bytes32 => Head) private heads;
    mapping(bytes32 => bytes32) private headHashes;
    mapping(bytes32 => Cum) private cums;
    mapping(bytes32 => mapping(uint256 => Checkpoint)) private checkpoints; // by period index
    mapping(bytes32 => Funds) private funds;
    mapping(bytes32 => uint256) private paid;
    /// @dev keccak256(abi.encode(sender, ref)): a reference is scoped to whoever used it.
    mapping(bytes32 => mapping(bytes32 => bool)) private usedReferences;
    /// @dev Offers waiting for the other party: keccak256(abi.encode(agreementId, terms)) → opener.
    mapping(bytes32 => address) private offers;
    /// @dev Signer windows one party proposed and the other has not confirmed yet → proposer.
    mapping(bytes32 => address) private signerProposals;

    // ───────────────────────────────── events ────────────────────────────────

    event AgreementOffered(
        bytes32 indexed key, bytes32 indexed termsHash, string agreementId, address indexed by
    );
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
    event SignerProposed(bytes32 indexed key, address indexed signer, uint64 validFrom, uint64 validUntil, address by);
    event SignerAllowed(bytes32 indexed key, address indexed signer, uint64 validFrom, uint64 validUntil);
    /// @notice From `cutoffSeq` on, no record or statement signed by `signer` is accepted.
    event SignerRevoked(bytes32 indexed key, address indexed signer, uint64 cutoffSeq, address by);
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
    error NoOffer(bytes32 termsHash);
    error InvalidTerms(bytes32 reason);
    error NotAuthorized(bytes32 key, address caller);
    error EmptyBatch();
    error SeqMismatch(uint64 expected, uint64 actual);
    error PeriodOverlap(uint64 expectedStart, uint64 actualStart);
    error PeriodGap(uint64 expectedStart, uint64 actualStart);
    error EmptyPeriod(uint64 seq);
    error StraddlesPeriod(uint64 seq, uint64 boundary);
    error OutsideTerm(uint64 seq);
    error UnknownSigner(uint64 seq, address recovered);
    error ExtrasRequired();
    error ExtrasMismatch(uint64 seq);
    error InvalidPeriod(uint64 start, uint64 end);
    error PeriodNotNext(uint64 expectedStart, uint64 expectedEnd);
    error PeriodIncomplete(uint64 periodEnd, uint64 recordsUntil);
    error PeriodAlreadySettled(uint64 start, uint64 settledUntil);
    error StatementMismatch(bytes32 field);
    error StatementSigner(address recovered);
    error InvalidAmount();
    error InsufficientFunds(uint256 available, uint256 requested);
    error DuplicateReference(bytes32 ref);
    error Overflow();

    // ────────────────────────────── agreements ───────────────────────────────

    /// @notice The storage key of an agreement: its id bound to both parties, so nobody else
    ///         can take the id of theirs (the id alone is the EIP-712 domain salt).
    function agreementKey(string calldata agreementId, address provider, address customer)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(keccak256(bytes(agreementId)), provider, customer));
    }

    /// @dev What both parties consent to: the id and every term (`keccak256(abi.encode(agreementId, terms))`).
    function _termsHash(string calldata agreementId, AgreementInput calldata a) private pure returns (bytes32) {
        return keccak256(abi.encode(agreementId, a));
    }

    /// @notice Consent to an agreement, by the provider or the customer. The first party's call
    ///         offers it (terms bound by their hash, nothing active: no records, funds or
    ///         settlements); the other party's call with exactly the same terms opens it.
    ///         Several offers may wait; the first accepted wins. Returns whether it opened.
    function openAgreement(string calldata agreementId, AgreementInput calldata a) external returns (bool opened) {
        bytes32 key = agreementKey(agreementId, a.provider, a.customer);
        if (msg.sender != a.provider && msg.sender != a.customer) revert NotAuthorized(key, msg.sender);
        if (terms[key].status != Status.None) revert AgreementExists(key);
        bytes32 h = _termsHash(agreementId, a);
        address opener = offers[h];
        if (opener == address(0)) {
            _checkTerms(a);
            offers[h] = msg.sender;
            emit AgreementOffered(key, h, agreementId, msg.sender);
            return false;
        }
        if (opener == msg.sender) revert NotAuthorized(key, msg.sender); // offered already
        delete offers[h]; // its terms were checked when offered
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
            machine: a.machine,
            salt: keccak256(bytes(agreementId))
        });
        CalendarInput calldata c = a.calendar;
        uint256 packed = 0;
        for (uint256 i = 0; i < 12; i++) {
            packed |= uint256(uint16(c.offsets[i])) << (16 * i);
        }
        calendars[key] = Calendar({kind: c.kind, anchor: c.anchor, length: c.length, offsets: uint192(packed)});
        _storeTariff(key, a.tariff, a.currencyDecimals);
        for (uint256 i = 0; i < a.signers.length; i++) {
            SignerInput calldata s = a.signers[i];
            if (s.signer == address(0) || (s.validUntil != 0 && s.validUntil <= s.validFrom)) {
                revert InvalidTerms("signers");
            }
            signerValidity[key][s.signer] = uint256(s.validFrom) | (uint256(s.validUntil) << 64);
            emit SignerAllowed(key, s.signer, s.validFrom, s.validUntil);
        }
        (, uint64 firstEnd) = _period(key, 0);
        heads[key].nextBoundary = firstEnd;
        emit AgreementOpened(key, agreementId, a.provider, a.customer, a.token, a.machine, a.start, a.end);
        return true;
    }

    /// @notice Allows another record signer (key rotation) from `validFrom` on, which cannot
    ///         lie in the past. Both parties must send the same window: the first call
    ///         proposes it, the other party's call allows it. A revoked key stays revoked.
    function allowSigner(bytes32 key, address signer, uint64 validFrom, uint64 validUntil) external {
        Terms storage t = _terms(key);
        if (msg.sender != t.provider && msg.sender != t.customer) revert NotAuthorized(key, msg.sender);
        if (signer == address(0) || validFrom < block.timestamp * 1000 || (validUntil != 0 && validUntil <= validFrom)) {
            revert InvalidTerms("signer");
        }
        if (signerValidity[key][signer] >> 128 != 0) revert InvalidTerms("revoked");
        bytes32 id = keccak256(abi.encode(key, signer, validFrom, validUntil));
        address proposer = signerProposals[id];
        if (proposer == address(0)) {
            signerProposals[id] = msg.sender;
            emit SignerProposed(key, signer, validFrom, validUntil, msg.sender);
            return;
        }
        if (proposer == msg.sender) revert InvalidTerms("proposed");
        delete signerProposals[id];
        signerValidity[key][signer] = uint256(validFrom) | (uint256(validUntil) << 64);
        emit SignerAllowed(key, signer, validFrom, validUntil);
    }

    /// @notice Revokes a record signer (a compromised or retired key). Provider or customer,
    ///         alone. From the current chain head on (`cutoffSeq` = next seq) no record and no
    ///         statement reaching that seq signed by this key is accepted, whatever times it
    ///         carries; records it signed before stay valid.
    function revokeSigner(bytes32 key, address signer) external {
        Terms storage t = _terms(key);
        if (msg.sender != t.provider && msg.sender != t.customer) revert NotAuthorized(key, msg.sender);
        uint256 v = signerValidity[key][signer];
        if (v == 0) revert InvalidTerms("signer");
        if (v >> 128 != 0) revert InvalidTerms("revoked");
        uint64 cutoff = heads[key].nextSeq;
        signerValidity[key][signer] = v | (uint256(cutoff) + 1) << 128;
        emit SignerRevoked(key, signer, cutoff, msg.sender);
    }

    // ──────────────────────────────── records ────────────────────────────────

    /// @notice Accepts a contiguous run of signed records continuing the agreement's chain
    ///         (`firstSeq` = next seq). Anyone may relay: the signatures are the authority.
    ///         `channel` is keccak256 of the records' billed channel; `firstPeriodStart` is the
    ///         first record's `periodStart` (later ones start where the previous one ended).
    ///         No record may straddle a billing-period end; where one ends there, the contract
    ///         stores a checkpoint of the running totals, whoever relays. Not for SLA tariffs:
    ///         they need `submitRecordsWithExtras`.
    function submitRecords(
        bytes32 key,
        bytes32 channel,
        uint64 firstSeq,
        uint64 firstPeriodStart,
        RecordInput[] calldata records
    ) external {
        if (tariffs[key].hasSla) revert ExtrasRequired();
        _submit(key, channel, firstSeq, firstPeriodStart, records, new ExtrasInput[](0));
    }

    /// @notice Like `submitRecords`, with the preimage of every record's `extrasHash`, so the
    ///         OEE time elements the SLA needs are verified and summed on-chain.
    function submitRecordsWithExtras(
        bytes32 key,
        bytes32 channel,
        uint64 firstSeq,
        uint64 firstPeriodStart,
        RecordInput[] calldata records,
        ExtrasInput[] calldata extras
    ) external {
        if (extras.length != records.length) revert ExtrasRequired();
        _submit(key, channel, firstSeq, firstPeriodStart, records, extras);
    }

    function _submit(
        bytes32 key,
        bytes32 channel,
        uint64 firstSeq,
        uint64 periodStart,
        RecordInput[] calldata records,
        ExtrasInput[] memory extras
    ) private {
        Terms storage t = _terms(key);
        uint256 n = records.length;
        if (n == 0) revert EmptyBatch();
        Head memory h = heads[key];
        if (firstSeq != h.nextSeq) revert SeqMismatch(h.nextSeq, firstSeq);
        Cum memory cum = cums[key];
        bytes32 prevHash = headHashes[key];
        uint64 boundary = h.nextBoundary;
        if (h.nextSeq == 0) {
            if (periodStart < t.start) revert OutsideTerm(firstSeq);
            // Billing periods that ended before the first record: empty, checkpointed at zero.
            while (periodStart >= boundary) {
                checkpoints[key][h.filled] = _point(cum, 0, bytes32(0));
                h.filled++;
                (, boundary) = _period(key, h.filled);
            }
        } else if (periodStart < h.lastPeriodEnd) {
            revert PeriodOverlap(h.lastPeriodEnd, periodStart);
        } else if (periodStart > h.lastPeriodEnd) {
            revert PeriodGap(h.lastPeriodEnd, periodStart);
        } else if (h.filled != 0 && checkpoints[key][h.filled - 1].seqPlusOne == 0) {
            // A statement left the head at a period end: keep that point before the head moves.
            checkpoints[key][h.filled - 1] = _point(cum, h.nextSeq, prevHash);
        }
        bytes32 domain = _domainSeparator(t.salt);
        // Constant fields of every record of this agreement.
        bytes32 machine = t.machine;
        bytes8 unit = t.unit;
        uint8 basis = t.basis;
        uint64 end = t.end;
        bool withExtras = extras.length != 0;
        address lastSigner;
        uint256 validity;
        uint64 seq = firstSeq;
        for (uint256 i = 0; i < n; i++) {
            RecordInput calldata r = records[i];
            uint64 periodEnd = r.periodEnd;
            if (periodEnd <= periodStart) revert EmptyPeriod(seq);
            if (end != 0 && periodEnd > end) revert OutsideTerm(seq);
            if (periodEnd > boundary) revert StraddlesPeriod(seq, boundary);
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
            if (!_validAt(validity, periodEnd, seq)) revert UnknownSigner(seq, signer);
            cum.usage += r.quantity;
            emit RecordAccepted(key, seq, periodStart, periodEnd, digest);
            prevHash = digest;
            periodStart = periodEnd;
            unchecked {
                seq++;
            }
            if (periodEnd == boundary) {
                // A billing period is complete: keep its end's totals for settlement.
                checkpoints[key][h.filled] = _point(cum, seq, digest);
                h.filled++;
                (, boundary) = _period(key, h.filled);
            }
        }
        h.nextSeq = seq;
        h.lastPeriodEnd = periodStart;
        h.nextBoundary = boundary;
        heads[key] = h;
        headHashes[key] = prevHash;
        cums[key] = cum;
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

    /// @dev The totals at the start of period `p`: zero for the first, else the previous end's.
    function _pointBefore(bytes32 key, uint256 p, Head memory h) private view returns (Checkpoint memory) {
        if (p == 0) return Checkpoint(0, 0, 0, 1, bytes32(0));
        return _pointAt(key, p - 1, h);
    }

    /// @dev The totals at the end of filled period `p`; not stored yet only when a statement
    ///      left the head exactly there (then they are the head's).
    function _pointAt(bytes32 key, uint256 p, Head memory h) private view returns (Checkpoint memory c) {
        c = checkpoints[key][p];
        if (c.seqPlusOne == 0) return _point(cums[key], h.nextSeq, headHashes[key]);
    }

    // ─────────────────────────────── settlement ──────────────────────────────

    /// @notice Settles the next unsettled billing period `[start, end)` from the records
    ///         accepted on-chain. The calendar decides the period: anything but exactly the
    ///         next one (a gap, a sub-period, a future or a settled one) is refused, and the
    ///         records must reach its end. Anyone may call: the outcome does not depend on who.
    function settlePeriod(bytes32 key, uint64 start, uint64 end) external nonReentrant {
        Terms storage t = _terms(key);
        Head memory h = heads[key];
        uint256 p = h.settled;
        _expectNext(key, p, start, end);
        if (p >= h.filled) revert PeriodIncomplete(end, h.lastPeriodEnd);
        Checkpoint memory a = _pointBefore(key, p, h);
        Checkpoint memory b = _pointAt(key, p, h);
        heads[key].settled = uint32(p + 1);
        bool any = b.seqPlusOne > a.seqPlusOne;
        _settle(
            key,
            t,
            start,
            end,
            false,
            any ? a.seqPlusOne - 1 : type(uint64).max,
            any ? b.seqPlusOne - 2 : type(uint64).max,
            any ? b.headHash : bytes32(0),
            b.usage - a.usage,
            uint64(b.plannedBusyTime - a.plannedBusyTime),
            uint64(b.actualProductionTime - a.actualProductionTime)
        );
    }

    /// @notice Settles the next unsettled billing period from a signed `PeriodStatement` — one
    ///         signature check for the whole period. The statement either continues the record
    ///         chain right after the last settled period (`firstSeq` = next seq, `startHash` =
    ///         head; the head moves to its `headHash`), or says exactly what the records already
    ///         accepted in that period say. Anyone may relay; the outcome does not depend on who.
    function settleStatement(bytes32 key, StatementInput calldata s) external nonReentrant {
        Terms storage t = _terms(key);
        Head memory h = heads[key];
        if (s.lastSeq < s.firstSeq) revert StatementMismatch("seq");
        uint256 p = h.settled;
        _expectNext(key, p, s.periodStart, s.periodEnd);
        address signer = _recover(_statementDigest(t, s), s.r, s.vs);
        if (!_validAt(signer == address(0) ? 0 : signerValidity[key][signer], s.periodEnd, s.lastSeq)) {
            revert StatementSigner(signer);
        }
        if (s.firstSeq == h.nextSeq) {
            // Continues the chain from the end of the last settled period.
            if (h.filled != p) revert StatementMismatch("records");
            if (headHashes[key] != s.startHash) revert StatementMismatch("startHash");
            if (h.nextSeq != 0 && s.periodStart != h.lastPeriodEnd) revert StatementMismatch("periodStart");
            Cum memory cum = cums[key];
            cum.usage += s.total;
            cum.plannedBusyTime += s.plannedBusyTime;
            cum.actualProductionTime += s.actualProductionTime;
            h.nextSeq = s.lastSeq + 1;
            h.lastPeriodEnd = s.periodEnd;
            cums[key] = cum;
            headHashes[key] = s.headHash;
            // The head is period p's end: its checkpoint is written only when records follow.
            h.filled = uint32(p + 1);
            (, h.nextBoundary) = _period(key, p + 1);
        } else if (s.lastSeq < h.nextSeq) {
            // Covers records already accepted in this period: every figure must match them.
            if (p >= h.filled) revert PeriodIncomplete(s.periodEnd, h.lastPeriodEnd);
            Checkpoint memory a = _pointBefore(key, p, h);
            Checkpoint memory b = _pointAt(key, p, h);
            if (
                a.seqPlusOne != s.firstSeq + 1 || b.seqPlusOne != s.lastSeq + 2 || a.headHash != s.startHash
                    || b.headHash != s.headHash || b.usage - a.usage != s.total
                    || b.plannedBusyTime - a.plannedBusyTime != s.plannedBusyTime
                    || b.actualProductionTime - a.actualProductionTime != s.actualProductionTime
            ) revert StatementMismatch("records");
        } else {
            revert StatementMismatch("seq");
        }
        h.settled = uint32(p + 1);
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

    /// @dev Reverts unless `[start, end)` is billing period `p`.
    function _expectNext(bytes32 key, uint256 p, uint64 start, uint64 end) private view {
        (uint64 ps, uint64 pe) = _period(key, p);
        if (start == ps && end == pe && pe != NONE) return;
        if (end <= start) revert InvalidPeriod(start, end);
        if (start < ps) revert PeriodAlreadySettled(start, ps);
        revert PeriodNotNext(ps, pe);
    }

    /// @dev Billing period `p` of an agreement, clipped to its term; `(NONE, NONE)` past the end.
    function _period(bytes32 key, uint256 p) private view returns (uint64 start, uint64 end) {
        Calendar memory c = calendars[key];
        Terms storage t = terms[key];
        uint256 termEnd = t.end;
        uint256 s = p == 0 ? t.start : _boundary(c, p);
        if (termEnd != 0 && s >= termEnd) return (NONE, NONE);
        uint256 e = _boundary(c, p + 1);
        if (termEnd != 0 && e > termEnd) e = termEnd;
        if (e >= NONE) return (NONE, NONE);
        return (uint64(s), uint64(e));
    }

    /// @dev Boundary `B(n)` of a calendar (Unix ms).
    function _boundary(Calendar memory c, uint256 n) private pure returns (uint256) {
        if (c.kind == 2) return uint256(c.anchor) + n * c.length;
        uint256 m = uint256(c.anchor) + n;
        uint256 month = m % 12;
        int256 offsetMinutes = int256(int16(uint16(c.offsets >> (16 * month))));
        int256 secondsAt = int256(_daysFromCivil(m / 12, month + 1) * 86_400) - offsetMinutes * 60;
        return uint256(secondsAt) * 1000;
    }

    /// @dev Days from 1970-01-01 to the 1st of `month` in `year` (proleptic Gregorian, year >= 1970).
    function _daysFromCivil(uint256 year, uint256 month) private pure returns (uint256) {
        if (month <= 2) year -= 1;
        uint256 era = year / 400;
        uint256 yoe = year - era * 400;
        uint256 doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5;
        uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146_097 + doe - 719_468;
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
        if (fromBalance > 0) IERC20(t.token).safeTransfer(t.provider, fromBalance);
    }

    // ───────────────────────────────── funds ─────────────────────────────────

    /// @notice Pays `amount` in (anyone, e.g. the customer or its treasury): it clears the
    ///         amount due first (paid on to the provider), the rest tops up the prepaid balance.
    ///         A non-zero `ref` applies once per sender (idempotency key): another sender's
    ///         use of the same reference does not block it.
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
        IERC20 token = IERC20(t.token);
        token.safeTransferFrom(msg.sender, address(this), amount);
        if (toDue > 0) token.safeTransfer(t.provider, toDue);
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
        IERC20(t.token).safeTransfer(msg.sender, amount);
    }

    function _useReference(bytes32 key, bytes32 ref) private {
        if (ref == bytes32(0)) return;
        bytes32 scoped = keccak256(abi.encode(msg.sender, ref));
        if (usedReferences[key][scoped]) revert DuplicateReference(ref);
        usedReferences[key][scoped] = true;
    }

    // ───────────────────────────────── reads ─────────────────────────────────

    /// @notice The record chain head and how far the agreement is recorded and settled.
    function recordsHead(bytes32 key) external view returns (Head memory head, bytes32 headHash) {
        return (heads[key], headHashes[key]);
    }

    /// @notice Billing period `p` (0 = the first) as `[start, end)` in Unix ms; `(max, max)` past the term.
    function billingPeriod(bytes32 key, uint256 p) external view returns (uint64 start, uint64 end) {
        _terms(key);
        return _period(key, p);
    }

    /// @notice Prepaid balance, amount due and everything paid to the provider (token base units).
    function balances(bytes32 key) external view returns (uint256 available, uint256 due, uint256 paidToProvider) {
        Funds memory f = funds[key];
        return (f.available, f.due, paid[key]);
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
        return _domainSeparator(_terms(key).salt);
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

    /// @dev `a·b/d` rounded half-even (or half-up) on top of OpenZeppelin's 512-bit `Math.mulDiv`.
    function _mulDivRound(uint256 a, uint256 b, uint256 d, bool halfUp) private pure returns (uint256 q) {
        q = Math.mulDiv(a, b, d);
        uint256 r = mulmod(a, b, d);
        uint256 rest = d - r; // 2r > d ⇔ r > d − r
        if (r > rest || (r == rest && (halfUp || q % 2 == 1))) q += 1;
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
        CalendarInput calldata c = a.calendar;
        uint256 packed = 0;
        for (uint256 i = 0; i < 12; i++) {
            int16 o = c.offsets[i];
            if (o > 1080 || o < -1080) revert InvalidTerms("calendar");
            packed |= uint256(uint16(o)) << (16 * i);
        }
        Calendar memory cal = Calendar({kind: c.kind, anchor: c.anchor, length: c.length, offsets: uint192(packed)});
        if (c.kind == 1) {
            if (c.anchor < 1970 * 12 || c.anchor > 10_000 * 12 || c.length != 0) revert InvalidTerms("calendar");
        } else if (c.kind == 2) {
            if (c.length == 0 || packed != 0) revert InvalidTerms("calendar");
        } else {
            revert InvalidTerms("calendar");
        }
        // The start lies in the calendar's first period: B(0) <= start < B(1).
        if (_boundary(cal, 0) > a.start || _boundary(cal, 1) <= a.start) revert InvalidTerms("calendar");
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

    /// @dev A signer may sign a record ending at `time` with sequence `seq`: within its window
    ///      and before its revocation cut-off.
    function _validAt(uint256 validity, uint64 time, uint64 seq) private pure returns (bool) {
        if (validity == 0) return false;
        uint64 from = uint64(validity);
        uint64 until = uint64(validity >> 64);
        uint64 cut = uint64(validity >> 128);
        return time >= from && (until == 0 || time < until) && (cut == 0 || seq < cut - 1);
    }

    function _domainSeparator(bytes32 salt) private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this), salt));
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

    /// @dev EIP-712 digest of a statement. Every field of `StatementInput` is a static word in
    ///      calldata, in the type's order, so the struct hash copies two runs of them around
    ///      the agreement's constant fields (version, machine, unit, basis).
    function _statementDigest(Terms storage t, StatementInput calldata s) private view returns (bytes32 digest) {
        bytes32 domain = _domainSeparator(t.salt);
        bytes32 typeHash = PERIOD_STATEMENT_TYPEHASH;
        bytes32 machine = t.machine;
        bytes8 unit = t.unit;
        uint8 basis = t.basis;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            mstore(add(p, 0x20), 1) // version
            mstore(add(p, 0x40), machine)
            calldatacopy(add(p, 0x60), s, 0xe0) // channel … headHash (7 words)
            mstore(add(p, 0x140), unit)
            mstore(add(p, 0x160), basis)
            calldatacopy(add(p, 0x180), add(s, 0xe0), 0x120) // total … extrasHash (9 words)
            let structHash := keccak256(p, 0x2a0)
            mstore(p, 0x1901000000000000000000000000000000000000000000000000000000000000)
            mstore(add(p, 0x02), domain)
            mstore(add(p, 0x22), structHash)
            digest := keccak256(p, 0x42)
        }
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

    /// @dev Signer of an EIP-2098 compact signature (OpenZeppelin ECDSA: high-s rejected);
    ///      zero when it recovers to no address.
    function _recover(bytes32 digest, bytes32 r, bytes32 vs) private pure returns (address signer) {
        (signer,,) = ECDSA.tryRecover(digest, r, vs);
    }

    function _u128(uint256 x) private pure returns (uint128) {
        if (x > type(uint128).max) revert Overflow();
        return uint128(x);
    }

}
