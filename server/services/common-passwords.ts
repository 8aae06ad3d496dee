/**
 * The most common passwords of 8 characters or more (from public breach top lists: rockyou, the yearly
 * "worst passwords" lists, common Chinese keyboard and pinyin patterns). Compared lower-cased.
 */
const COMMON = `
12345678 123456789 1234567890 12345678910 123123123 11111111 111111111 00000000 000000000 88888888
66666666 87654321 987654321 11223344 12341234 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qazxsw2 zaq12wsx
qwertyui qwertyuiop qwerty123 qwerty12 qwer1234 asdfghjk asdfghjkl asdf1234 zxcvbnm1 zxcvbnm123
password password1 password12 password123 password! passw0rd p@ssw0rd p@ssword pa$$word passwort
iloveyou iloveyou1 iloveyou2 woaini520 woaini1314 5201314520 520131400 1314520520 woaiwojia aini1314
abcd1234 abc12345 abc123456 abcdefgh a1234567 a12345678 a123456789 aa123456 aa12345678 qq123456
sunshine princess football baseball superman batman123 starwars whatever trustno1 letmein1 welcome1
welcome123 admin123 admin1234 administrator changeme changeme1 default1 computer internet michael1
jennifer jordan23 charlie1 master12 monkey123 dragon12 shadow12 liverpool chelsea1 arsenal1 michelle
blink182 babygirl babygirl1 lovelove loveyou1 lovely12 iloveu12 angel123 butterfly chocolate
elephant basketball spiderman pokemon1 naruto12 minecraft fuckyou1 asdasdasd qweqweqwe zxczxczxc
q1w2e3r4 q1w2e3r4t5 1a2b3c4d a1b2c3d4 123qweasd 123qweasdzxc qweasdzxc qazwsxedc 147258369 159357123
741852963 963852741 123654789 147852369 1234qwer 12qwaszx 7758521 77585210 woshishui 5211314520
dreamfactory dream123 qwertyuiop123 password2024 password2025 password2026 summer2024 summer2025
winter2024 winter2025 spring2025 autumn2025 test1234 testtest test12345 guest123 user1234 root1234
secret12 secret123 1234abcd 12345qwert 12345abc asd12345 zxc12345 qaz12345 wsx12345 love1234
11112222 12121212 13131313 12344321 123454321 1234554321 2582580 31415926 314159265 1qaz@wsx
!qaz2wsx 1qaz!qaz p@ssw0rd1 p@55w0rd passw0rd1 password01 iloveyou! mustang1 access14 shadow123
master123 killer12 jessica1 hunter12 ranger12 buster12 soccer12 hockey12 george12 andrew12 thomas12
`;

const blocked = new Set(COMMON.split(/\s+/).filter(Boolean));

/** True when the password is on the list, is one character repeated, or is the email (or its name part). */
export function isCommonPassword(password: string, email?: string): boolean {
  const p = password.toLowerCase();
  if (blocked.has(p)) return true;
  if (new Set(p).size <= 2) return true;
  if (email) {
    const e = email.toLowerCase();
    const name = e.split('@')[0] ?? '';
    if (p === e || (name.length >= 4 && p === name)) return true;
  }
  return false;
}
