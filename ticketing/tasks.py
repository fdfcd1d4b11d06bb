"""Celery wrappers of ticketing services: ids in, one service call, a retry policy."""

from celery import shared_task

from ticketing.services import orders, payments, slots


@shared_task
def generate_time_slots() -> int:
    """Extend the slots of every rule to the rolling horizon."""
    return slots.time_slots_generate()


@shared_task
def release_expired_holds() -> int:
    """Mark orders whose hold ran out as expired (their seats are already free)."""
    return orders.orders_expire_holds()


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=60, retry_kwargs={"max_retries": 10}
)
def refund_payment(self, payment_id: int) -> str:
    """Refund a payment whose refund was requested; the provider's key makes it once."""
    return payments.payment_refund(payment_id=payment_id)


@shared_task
def purge_idempotency_keys() -> int:
    """Forget the reseller API's stored answers once no retry can come any more."""
    from ticketing.api.idempotency import idempotency_keys_purge

    return idempotency_keys_purge()
