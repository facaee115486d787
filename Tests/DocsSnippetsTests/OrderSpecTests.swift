// The specs of the ChronicleTesting catalog and of Docs/Aggregates.md, verbatim: change both together.
import ChronicleTesting
import Testing

@Suite struct OrderSpecTests {
    @Test func confirmingAPlacedOrderConfirmsIt() throws {
        try AggregateSpec<Order>
            .given(.placed(OrderPlaced(customer: "ada", total: 30)))
            .when(.confirm)
            .then(.confirmed(OrderConfirmed()))
    }

    @Test func confirmingACancelledOrderFails() throws {
        try AggregateSpec<Order>
            .given(.placed(OrderPlaced(customer: "ada", total: 30)), .cancelled(OrderCancelled(reason: "changed her mind")))
            .when(.confirm)
            .thenThrows(Order.Failure.alreadyCancelled)
    }

    @Test func cancellingAPlacedOrderRecordsTheReason() throws {
        try AggregateSpec<Order>
            .given(.placed(OrderPlaced(customer: "ada", total: 30)))
            .when(.cancel(reason: "changed her mind"))
            .then(.cancelled(OrderCancelled(reason: "changed her mind")))
    }

    @Test func cancellingBeforePlacingFails() throws {
        try AggregateSpec<Order>
            .given()
            .when(.cancel(reason: "changed her mind"))
            .thenThrows(Order.Failure.notPlaced)
    }
}
