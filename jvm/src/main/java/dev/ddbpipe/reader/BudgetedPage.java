package dev.ddbpipe.reader;

import java.util.Map;
import org.apache.hadoop.dynamodb.preader.PageResults;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/** A Scan page that gives its bytes back to the budget when its last item has been taken. */
final class BudgetedPage extends PageResults<Map<String, AttributeValue>> {
  private final PageBudget budget;
  private final long bytes;
  private boolean released;

  BudgetedPage(PageResults<Map<String, AttributeValue>> page, PageBudget budget, long bytes) {
    super(page.items, page.lastEvaluatedKey, page.consumedRcu, page.retries);
    this.budget = budget;
    this.bytes = bytes;
  }

  @Override
  public Map<String, AttributeValue> next() {
    Map<String, AttributeValue> item = super.next();
    if (!released && !hasMore()) {
      released = true;
      budget.release(bytes);
    }
    return item;
  }
}
