import { MessageType } from '@app/shared/database/entities/message.entity';
import { messageSummary } from './message-summary';

describe('messageSummary', () => {
  it('should keep a user message of up to 20 code points whole', () => {
    expect(messageSummary(MessageType.User, 'hello', null)).toBe('hello');
    expect(messageSummary(MessageType.User, 'x'.repeat(20), null)).toBe('x'.repeat(20));
  });

  it('should cut a longer user message at 20 code points', () => {
    expect(messageSummary(MessageType.User, 'abcdefghijklmnopqrstuvwxyz', null)).toBe('abcdefghijklmnopqrst');
  });

  it('should count an emoji as one character and never split its surrogate pair', () => {
    const text = '👋'.repeat(25);
    const summary = messageSummary(MessageType.User, text, null);
    expect([...summary]).toHaveLength(20);
    expect(summary).toBe('👋'.repeat(20));
    expect(summary.isWellFormed()).toBe(true);
  });

  it("should show a system message's subject when it has one", () => {
    expect(messageSummary(MessageType.System, 'long system text', 'LIVE System')).toBe('LIVE System');
    expect(messageSummary(MessageType.System, 'no subject here', null)).toBe('no subject here');
  });
});
