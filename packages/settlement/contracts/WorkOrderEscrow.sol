// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title WorkOrderEscrow
/// @notice Escrow for maintenance work orders paid in an ERC-20 token.
///
/// Lifecycle (every transition emits an event):
///
///   open ──▶ Open ──fund──▶ Funded ──accept──▶ Accepted ──complete(proof)──▶ Completed
///              │               │                   │                            │
///           cancel          cancel/expire       expire (after completeBy)   confirm (customer) or
///              ▼               ▼  (refund)         ▼  (refund)              confirmByMachine (signed)
///          Cancelled        Refunded            Refunded                        ▼
///                                                                    Released (provider paid)
///   Accepted / Completed ──dispute (customer or provider)──▶ Disputed ──resolve (arbiter)──▶ Resolved
///
/// Completion needs the provider's proof hash AND a confirmation: either the customer's, or
/// an EIP-712 `ConditionCleared` signature by the machine's record signer named at opening.
/// The payment is released in the confirming transaction. Every token transfer happens after
/// all state changes (checks-effects-interactions) under a transient reentrancy lock.
///
/// Work orders are stored under `key = keccak256(abi.encode(customer, id))` (`workOrderKey`):
/// `open` binds the id to its sender as customer, so nobody can open a customer's id first.
/// Refunds (cancel, expire, the customer's share of a resolved dispute) go back to whoever
/// paid the escrow in: the customer, or the named funder.
contract WorkOrderEscrow is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Open,
        Funded,
        Accepted,
        Completed,
        Released,
        Refunded,
        Cancelled,
        Disputed,
        Resolved
    }

    /// @dev Eight slots; the first two hold what most transitions read.
    struct WorkOrder {
        address customer; // slot 0
        Status status;
        uint40 acceptBy;
        uint40 completeBy;
        bool paidByFunder; // the funder paid the escrow in: refunds go back to it
        address provider; // slot 1
        uint96 amount;
        address arbiter; // slot 2
        address token; // slot 3
        address funder; // slot 4: may fund besides the customer (e.g. an agreement contract)
        address machineSigner; // slot 5: record signer whose signature confirms completion
        bytes32 conditionHash; // slot 6: the service request / condition being fixed
        bytes32 proofHash; // slot 7: set by the provider at completion
    }

    /// @notice Parameters of `open`.
    struct Terms {
        address provider;
        address arbiter;
        address token;
        address funder;
        address machineSigner;
        uint96 amount;
        uint40 acceptBy;
        uint40 completeBy;
        bytes32 conditionHash;
    }

    bytes32 private constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("maaskit WorkOrderEscrow");
    bytes32 private constant VERSION_HASH = keccak256("1");
    /// @notice EIP-712 type of the machine-side confirmation.
    bytes32 public constant CONDITION_CLEARED_TYPEHASH = keccak256(
        "ConditionCleared(bytes32 workOrderId,bytes32 conditionHash,bytes32 evidenceHash,uint64 clearedAt)"
    );

    uint256 private immutable cachedChainId;
    bytes32 private immutable cachedDomainSeparator;
    /// @notice The `verifyingContract` of this escrow's EIP-712 domain: itself, or the
    ///         MeterAgreements registry it is deployed beside, so a machine signs one domain
    ///         per ledger for records and confirmations alike (docs/evm.md).
    address public immutable domainContract;

    mapping(bytes32 => WorkOrder) private orders;

    event WorkOrderOpened(
        bytes32 indexed id,
        address indexed customer,
        address indexed provider,
        address arbiter,
        address token,
        address funder,
        address machineSigner,
        uint96 amount,
        uint40 acceptBy,
        uint40 completeBy,
        bytes32 conditionHash
    );
    event WorkOrderFunded(bytes32 indexed id, address indexed from, uint96 amount);
    event WorkOrderAccepted(bytes32 indexed id, address indexed provider);
    event WorkOrderCompleted(bytes32 indexed id, address indexed provider, bytes32 proofHash);
    /// @param by the customer, or the machine signer whose signature was checked
    event WorkOrderConfirmed(bytes32 indexed id, address indexed by, bytes32 evidenceHash, uint64 clearedAt);
    event WorkOrderReleased(bytes32 indexed id, address indexed provider, uint96 amount);
    /// @param to whoever paid the escrow in (the customer or the funder)
    event WorkOrderRefunded(bytes32 indexed id, address indexed to, uint96 amount);
    event WorkOrderCancelled(bytes32 indexed id, address indexed by);
    event WorkOrderDisputed(bytes32 indexed id, address indexed by, bytes32 reasonHash);
    event WorkOrderResolved(bytes32 indexed id, address indexed arbiter, uint96 toProvider, uint96 toCustomer);

    error WorkOrderExists(bytes32 id);
    error UnknownWorkOrder(bytes32 id);
    error WrongStatus(bytes32 id, Status status);
    error NotAuthorized(bytes32 id, address caller);
    error InvalidTerms(string reason);
    error DeadlinePassed(bytes32 id, uint40 deadline);
    error DeadlineNotReached(bytes32 id, uint40 deadline);
    error InvalidSignature();
    error InvalidProof();
    error InvalidSplit(uint96 toProvider, uint96 amount);

    constructor(address domainContract_) {
        domainContract = domainContract_ == address(0) ? address(this) : domainContract_;
        cachedChainId = block.chainid;
        cachedDomainSeparator = _buildDomainSeparator();
    }

    // ───────────────────────────── transitions ─────────────────────────────

    /// @notice The storage key of a work order: its id bound to its customer.
    function workOrderKey(address customer, bytes32 id) public pure returns (bytes32) {
        return keccak256(abi.encode(customer, id));
    }

    /// @notice Opens a work order with the caller as customer, stored under
    ///         `workOrderKey(msg.sender, workOrderId)`; every later call names that key. Not yet funded.
    function open(bytes32 workOrderId, Terms calldata t) external returns (bytes32 id) {
        id = workOrderKey(msg.sender, workOrderId);
        if (orders[id].status != Status.None) revert WorkOrderExists(id);
        if (t.provider == address(0) || t.provider == msg.sender) revert InvalidTerms("provider");
        if (t.arbiter == address(0) || t.arbiter == msg.sender || t.arbiter == t.provider) {
            revert InvalidTerms("arbiter");
        }
        if (t.token.code.length == 0) revert InvalidTerms("token");
        if (t.amount == 0) revert InvalidTerms("amount");
        if (t.acceptBy <= block.timestamp || t.completeBy < t.acceptBy) revert InvalidTerms("deadlines");
        orders[id] = WorkOrder({
            customer: msg.sender,
            status: Status.Open,
            acceptBy: t.acceptBy,
            completeBy: t.completeBy,
            paidByFunder: false,
            provider: t.provider,
            amount: t.amount,
            arbiter: t.arbiter,
            token: t.token,
            funder: t.funder,
            machineSigner: t.machineSigner,
            conditionHash: t.conditionHash,
            proofHash: bytes32(0)
        });
        emit WorkOrderOpened(
            id,
            msg.sender,
            t.provider,
            t.arbiter,
            t.token,
            t.funder,
            t.machineSigner,
            t.amount,
            t.acceptBy,
            t.completeBy,
            t.conditionHash
        );
    }

    /// @notice Pays the escrow amount in (needs an allowance). Customer or the named funder only.
    function fund(bytes32 id) external nonReentrant {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.customer && (o.funder == address(0) || msg.sender != o.funder)) {
            revert NotAuthorized(id, msg.sender);
        }
        _expectStatus(id, o, Status.Open);
        if (block.timestamp > o.acceptBy) revert DeadlinePassed(id, o.acceptBy);
        o.status = Status.Funded;
        o.paidByFunder = msg.sender != o.customer;
        uint96 amount = o.amount;
        address token = o.token;
        emit WorkOrderFunded(id, msg.sender, amount);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice The provider accepts a funded work order before `acceptBy`.
    function accept(bytes32 id) external {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.provider) revert NotAuthorized(id, msg.sender);
        _expectStatus(id, o, Status.Funded);
        if (block.timestamp > o.acceptBy) revert DeadlinePassed(id, o.acceptBy);
        o.status = Status.Accepted;
        emit WorkOrderAccepted(id, msg.sender);
    }

    /// @notice The provider reports the work done, with the hash of its proof (report, photos,
    ///         parts list), before `completeBy`.
    function complete(bytes32 id, bytes32 proofHash) external {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.provider) revert NotAuthorized(id, msg.sender);
        _expectStatus(id, o, Status.Accepted);
        if (block.timestamp > o.completeBy) revert DeadlinePassed(id, o.completeBy);
        if (proofHash == bytes32(0)) revert InvalidProof();
        o.status = Status.Completed;
        o.proofHash = proofHash;
        emit WorkOrderCompleted(id, msg.sender, proofHash);
    }

    /// @notice The customer confirms a completed work order; the provider is paid at once.
    function confirm(bytes32 id, bytes32 evidenceHash) external nonReentrant {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.customer) revert NotAuthorized(id, msg.sender);
        _expectStatus(id, o, Status.Completed);
        emit WorkOrderConfirmed(id, msg.sender, evidenceHash, uint64(block.timestamp));
        _release(id, o);
    }

    /// @notice Anyone may relay the machine's signed `ConditionCleared` for a completed work
    ///         order; the signature is the authority. The provider is paid at once.
    ///         The machine signs the work order's own id (`workOrderId`), not its storage key.
    function confirmByMachine(
        address customer,
        bytes32 workOrderId,
        bytes32 evidenceHash,
        uint64 clearedAt,
        bytes32 r,
        bytes32 vs
    ) external nonReentrant {
        bytes32 id = workOrderKey(customer, workOrderId);
        WorkOrder storage o = _existing(id);
        _expectStatus(id, o, Status.Completed);
        address signer = o.machineSigner;
        if (signer == address(0)) revert NotAuthorized(id, msg.sender);
        bytes32 structHash =
            keccak256(abi.encode(CONDITION_CLEARED_TYPEHASH, workOrderId, o.conditionHash, evidenceHash, clearedAt));
        if (_recover(_hashTypedData(structHash), r, vs) != signer) revert InvalidSignature();
        emit WorkOrderConfirmed(id, signer, evidenceHash, clearedAt);
        _release(id, o);
    }

    /// @notice Cancels a work order the provider has not accepted yet (customer or provider);
    ///         a funded one is refunded to whoever paid it in.
    function cancel(bytes32 id) external nonReentrant {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.customer && msg.sender != o.provider) revert NotAuthorized(id, msg.sender);
        Status s = o.status;
        if (s == Status.Open) {
            o.status = Status.Cancelled;
            emit WorkOrderCancelled(id, msg.sender);
        } else if (s == Status.Funded) {
            o.status = Status.Refunded;
            emit WorkOrderCancelled(id, msg.sender);
            _refund(id, o);
        } else {
            revert WrongStatus(id, s);
        }
    }

    /// @notice After a missed deadline (not accepted by `acceptBy`, or not completed by
    ///         `completeBy`), the escrow goes back to whoever paid it in. Customer or arbiter only.
    function expire(bytes32 id) external nonReentrant {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.customer && msg.sender != o.arbiter) revert NotAuthorized(id, msg.sender);
        Status s = o.status;
        uint40 deadline;
        if (s == Status.Open || s == Status.Funded) deadline = o.acceptBy;
        else if (s == Status.Accepted) deadline = o.completeBy;
        else revert WrongStatus(id, s);
        if (block.timestamp <= deadline) revert DeadlineNotReached(id, deadline);
        if (s == Status.Open) {
            o.status = Status.Cancelled;
            emit WorkOrderCancelled(id, msg.sender);
        } else {
            o.status = Status.Refunded;
            _refund(id, o);
        }
    }

    /// @notice Customer or provider disputes an accepted or completed work order; only the
    ///         arbiter can move it on.
    function dispute(bytes32 id, bytes32 reasonHash) external {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.customer && msg.sender != o.provider) revert NotAuthorized(id, msg.sender);
        Status s = o.status;
        if (s != Status.Accepted && s != Status.Completed) revert WrongStatus(id, s);
        o.status = Status.Disputed;
        emit WorkOrderDisputed(id, msg.sender, reasonHash);
    }

    /// @notice The arbiter splits a disputed escrow: `toProvider` to the provider, the rest
    ///         back to the customer.
    function resolve(bytes32 id, uint96 toProvider) external nonReentrant {
        WorkOrder storage o = _existing(id);
        if (msg.sender != o.arbiter) revert NotAuthorized(id, msg.sender);
        _expectStatus(id, o, Status.Disputed);
        uint96 amount = o.amount;
        if (toProvider > amount) revert InvalidSplit(toProvider, amount);
        o.status = Status.Resolved;
        uint96 toCustomer = amount - toProvider;
        address token = o.token;
        address provider = o.provider;
        address payer = o.paidByFunder ? o.funder : o.customer;
        emit WorkOrderResolved(id, msg.sender, toProvider, toCustomer);
        if (toProvider > 0) IERC20(token).safeTransfer(provider, toProvider);
        if (toCustomer > 0) IERC20(token).safeTransfer(payer, toCustomer);
    }

    // ─────────────────────────────── reads ────────────────────────────────

    /// @notice The stored work order (status `None` when unknown).
    function workOrder(bytes32 id) external view returns (WorkOrder memory) {
        return orders[id];
    }

    /// @notice The EIP-712 domain separator (recomputed if the chain forked).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparator();
    }

    // ────────────────────────────── internals ─────────────────────────────

    function _existing(bytes32 id) private view returns (WorkOrder storage o) {
        o = orders[id];
        if (o.status == Status.None) revert UnknownWorkOrder(id);
    }

    function _expectStatus(bytes32 id, WorkOrder storage o, Status expected) private view {
        Status s = o.status;
        if (s != expected) revert WrongStatus(id, s);
    }

    function _release(bytes32 id, WorkOrder storage o) private {
        o.status = Status.Released;
        uint96 amount = o.amount;
        address provider = o.provider;
        emit WorkOrderReleased(id, provider, amount);
        IERC20(o.token).safeTransfer(provider, amount);
    }

    function _refund(bytes32 id, WorkOrder storage o) private {
        uint96 amount = o.amount;
        address payer = o.paidByFunder ? o.funder : o.customer;
        emit WorkOrderRefunded(id, payer, amount);
        IERC20(o.token).safeTransfer(payer, amount);
    }

    function _domainSeparator() private view returns (bytes32) {
        return block.chainid == cachedChainId ? cachedDomainSeparator : _buildDomainSeparator();
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, domainContract));
    }

    function _hashTypedData(bytes32 structHash) private view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(_domainSeparator(), structHash);
    }

    /// @dev EIP-2098 compact signature (OpenZeppelin ECDSA: high-s rejected); zero when invalid.
    function _recover(bytes32 digest, bytes32 r, bytes32 vs) private pure returns (address signer) {
        (signer,,) = ECDSA.tryRecover(digest, r, vs);
    }
}
