/**
 * English strings of the Credits page (ledger, redeem form), loaded with those pages.
 * The source of this part's keys (zh-CN must have the same ones); `{name}` is filled in by `t`.
 */
export const messages = {
  'common.credits': '{n} credits',
  'credits.title': 'Credits',
  'credits.balance': 'Balance',
  'credits.history': 'History',
  'credits.chart': 'Spent per day (last 30 days)',
  'credits.chartEmpty': 'No spending in the last 30 days.',
  'credits.chartSummary': 'Daily spending, last {days} days: {total} credits in total; most on {date} ({n}).',
  'credits.date': 'Date',
  'credits.kind': 'Type',
  'credits.amount': 'Amount',
  'credits.balanceAfter': 'Balance',
  'credits.note': 'Note',
  'credits.empty': 'No credit movements yet.',
  'credits.kind.signup_bonus': 'Sign-up bonus',
  'credits.kind.grant': 'Grant',
  'credits.kind.charge': 'Charge',
  'credits.kind.refund': 'Refund',
  'credits.kind.redeem': 'Redeemed code',
  'redeem.title': 'Redeem a code',
  'redeem.code': 'Code',
  'redeem.placeholder': 'XXXXX-XXXXX-XXXXX-XXXXX-XXXXX',
  'redeem.submit': 'Redeem',
  'redeem.success': '{credits} credits added. Your balance is now {balance}.',
  'ledger.openJob': 'View job',
  'ledger.details': 'Details',
  'ledger.grant': 'Credits from an operator',
  'ledger.bonus': 'Welcome credits for a new account',
  'ledger.redeem': 'A redemption code',
} as const;

export type Messages = Record<keyof typeof messages, string>;
