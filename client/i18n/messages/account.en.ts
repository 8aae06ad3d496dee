/**
 * English strings of sign-in, sign-up, the account page, password reset and email confirmation, loaded with those pages.
 * The source of this part's keys (zh-CN must have the same ones); `{name}` is filled in by `t`.
 */
export const messages = {
  'app.tagline': 'Images and videos from a sentence.',
  'auth.signIn': 'Sign in',
  'auth.signUp': 'Create account',
  'auth.email': 'Email',
  'auth.password': 'Password',
  'auth.passwordHint': 'At least {n} characters.',
  'auth.haveAccount': 'Already have an account?',
  'auth.noAccount': 'New here?',
  'auth.welcome': 'Welcome back',
  'auth.join': 'Start creating',
  'auth.wrongPassword': 'Wrong email or password.',
  'auth.bonus': 'New accounts get free credits to try it out.',
  'auth.emailTaken': 'An account with this email already exists. {signIn}, or {reset}.',
  'auth.emailTakenSignIn': 'Sign in',
  'auth.emailTakenReset': 'reset the password',
  'account.title': 'Account',
  'account.email': 'Email',
  'account.verified': 'Confirmed',
  'account.unverified': 'Not confirmed yet',
  'account.resend': 'Send the confirmation email again',
  'account.resent': 'Sent. Check your inbox.',
  'account.changePassword': 'Change password',
  'account.currentPassword': 'Current password',
  'account.newPassword': 'New password',
  'account.save': 'Change password',
  'account.passwordChanged': 'Password changed. Your other sessions were signed out.',
  'account.signOutEverywhere': 'Sign out everywhere',
  'account.signOutEverywhereHint':
    'Ends every session of this account on all devices, this one included. API tokens stay; revoke them on their page.',
  'account.signOutEverywhereConfirm': 'Sign out on all devices?',
  'auth.forgot': 'Forgot your password?',
  'reset.title': 'Reset your password',
  'reset.intro':
    'Enter your email and we’ll send a link to choose a new password. It works once, for 30 minutes.',
  'reset.send': 'Send the link',
  'reset.sent': 'If an account exists for this address, the link is on its way.',
  'reset.newTitle': 'Choose a new password',
  'reset.save': 'Save and sign in',
  'reset.back': 'Back to sign in',
  'verify.title': 'Confirm your email',
  'verify.working': 'Confirming…',
  'verify.done': 'Your email is confirmed.',
  'verify.continue': 'Continue',
  'verify.banner': 'Confirm your email address: we sent you a link.',
} as const;

export type Messages = Record<keyof typeof messages, string>;
